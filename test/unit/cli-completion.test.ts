/**
 * `spacedrive completion bash|zsh|fish` is generated from the command tree: the bash script,
 * run by a real bash, completes groups, subcommands, options and option choices.
 */
import { spawnSync } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { buildProgram, Cli } from '../../src/cli/index.js';
import { bashScript, commandTree, fishScript, zshScript } from '../../src/cli/commands/completion.js';

function program() {
  const io = { stdout: new PassThrough(), stderr: new PassThrough(), stdin: new PassThrough(), env: {}, cwd: process.cwd() };
  return buildProgram(new Cli(io), () => undefined);
}

/** What bash completes for the words typed so far (the last one is being typed). */
function complete(script: string, words: string[]): string[] {
  const array = words.map((w) => `'${w}'`).join(' ');
  const r = spawnSync('bash', ['-c', `${script}\nCOMP_WORDS=(${array}); COMP_CWORD=${words.length - 1}; _spacedrive; printf '%s\\n' "\${COMPREPLY[@]}"`], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.split('\n').filter(Boolean);
}

describe('shell completion', () => {
  const p = program();
  const bash = bashScript(p);

  it('knows every command of the tree', () => {
    const paths = commandTree(p).map((n) => n.path.join(' '));
    expect(paths).toContain('extension new');
    expect(paths).toContain('extensions install');
    expect(paths).toContain('completion');
  });

  it('bash completes groups, subcommands, options and choices', () => {
    expect(complete(bash, ['spacedrive', 'ext'])).toEqual(['extensions', 'extension']);
    expect(complete(bash, ['spacedrive', 'extension', ''])).toEqual(expect.arrayContaining(['new', 'build', 'test', 'dev', 'pack']));
    expect(complete(bash, ['spacedrive', '--json', 'extensions', 'in'])).toEqual(['install', 'info']);
    expect(complete(bash, ['spacedrive', 'extension', 'new', 'x', '--lang', ''])).toEqual(['assemblyscript', 'rust']);
    expect(complete(bash, ['spacedrive', 'extension', 'pack', '--o'])).toEqual(['--out']);
  });

  it('zsh loads the same function through bashcompinit; fish gets one line per command and option', () => {
    const zsh = zshScript(p);
    expect(zsh.startsWith('#compdef spacedrive')).toBe(true);
    expect(zsh).toContain('bashcompinit');
    const fish = fishScript(p);
    expect(fish).toContain("complete -c spacedrive -n '__fish_seen_subcommand_from extension; and not __fish_seen_subcommand_from new build test dev pack conformance' -a new");
    expect(fish).toMatch(/-l lang -x -a 'assemblyscript rust'/);
  });
});
