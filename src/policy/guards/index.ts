/**
 * Argument guards: compiled once from config, then asked per argument value. Every check fails
 * closed (an unexpected input or internal error is a denial) and never throws; the `compile*`
 * functions throw GuardConfigError on bad options, at start-up. Which arguments to check is
 * ../arguments.ts's job. Design notes: README.md beside this file.
 */
export {
  ALLOWED,
  GuardConfigError,
  MAX_VALUE_LENGTH,
  type GuardDecision,
  type GuardDenialReason,
} from "./types.js";
export { compilePathGuard, DEFAULT_PATH_DENY, type PathGuard, type PathGuardOptions } from "./path.js";
export { compileUrlGuard, type UrlGuard, type UrlGuardOptions } from "./url.js";
export {
  compileCommandGuard,
  MAX_COMMAND_LENGTH,
  type CommandGuard,
  type CommandGuardOptions,
} from "./command.js";
export { classifyAddress, parseAddress, type AddressClass } from "./ip.js";
