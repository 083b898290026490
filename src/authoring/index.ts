/**
 * Extension authoring: the project layout and scaffold (`spacedrive extension new`), the build
 * (`build`), the test run on the harness (`test`, with src/testing), packing into one `.sdext`
 * file (`pack`), and the watch-rebuild-reload loop (`dev`). The CLI commands in
 * src/cli/commands/extension-dev.ts are a thin layer over these.
 */
export * from './project.js';
export * from './scaffold.js';
export * from './build.js';
export * from './test-runner.js';
export { abiProblems, REQUIRED_EXPORTS } from './abi-check.js';
export { PACKAGE_ROOT, AS_SDK_DIR } from './toolchain.js';
export * from './pack.js';
export * from './sdext.js';
export * from './dev.js';
export * from './conformance.js';
