/**
 * Message strings as compact constants: each appears once in the binary's data segment.
 */
export const E_NOT_OBJECT = "expected a JSON object";
export const E_FAILED_CALL_VALUE = "value of a failed call: ";
export const E_NO_ENVELOPE = "the host returned no answer to ";
export const E_BAD_ENVELOPE = "the host returned a malformed answer to ";
export const E_NO_INPUT = "this context has no input (use ExtensionContext.fromParams in a handler)";
export const E_CONFIG = "reading the extension's configuration failed: ";
export const E_INFO = "reading the extension's identity failed: ";
export const E_REGISTRATION = "registration failed: ";
export const E_HOST = "HOST_ERROR";
export const E_ABORT = "abort: ";
