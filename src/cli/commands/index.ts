/**
 * Every command group of `spacedrive`, in the order `--help` lists them. A group is a function
 * that adds its commands to the program; to add one, write src/cli/commands/<group>.ts and add
 * one line here.
 */
import type { Command } from 'commander';
import type { Cli } from '../context.js';
import { registerCallCommands } from './call.js';
import { registerClusterCommands } from './cluster.js';
import { registerCompletionCommand } from './completion.js';
import { registerConfigCommands } from './config.js';
import { registerCredentialsCommand } from './credentials.js';
import { registerDaemonCommands } from './daemon.js';
import { registerExtensionDevCommand } from './extension-dev.js';
import { registerExtensionsCommand } from './extensions.js';
import { registerJobsCommand } from './jobs.js';
import { registerLibraryCommands } from './library.js';
import { registerMailCommands } from './mail.js';
import { registerMethodsCommand } from './methods.js';
import { registerStatusCommand } from './status.js';
import { registerTypesCommand } from './types.js';

/** Adds a group of commands to the program; `cli.action(…)` wraps their handlers. */
export type CommandGroup = (program: Command, cli: Cli) => void;

export const COMMAND_GROUPS: readonly CommandGroup[] = [
  registerDaemonCommands,
  registerStatusCommand,
  registerMethodsCommand,
  registerCallCommands,
  registerConfigCommands,
  registerExtensionsCommand,
  registerExtensionDevCommand,
  registerJobsCommand,
  registerClusterCommands,
  registerLibraryCommands,
  registerCredentialsCommand,
  registerMailCommands,
  registerTypesCommand,
  // Last: it reads the tree the groups above built.
  registerCompletionCommand,
];
