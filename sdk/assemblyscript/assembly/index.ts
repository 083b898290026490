/**
 * spacedrive-sdk: write Spacedrive extensions in AssemblyScript (extension ABI v1).
 *
 * Layers:
 * - `host.ts`: the raw `spacedrive` imports (`sd_call`, `sd_log`, `sd_error`, `sd_job_*`);
 * - `abi.ts`: the guest exports every module needs (`sd_abi_version`, `sd_alloc`, `sd_free`);
 * - the idiomatic wrappers: `ExtensionContext` (context.ts), calls (call.ts), jobs (jobs.ts),
 *   logging (log.ts).
 *
 * Wrappers for the host capabilities of later issues (vdfs, ai, http, credentials) go in
 * `assembly/capabilities/<name>.ts`, each a thin typed layer over `callQuery` / `callAction`
 * with the capability's wire methods, and are re-exported here.
 */
export { sd_abi_version, sd_alloc, sd_free, ABI_VERSION, pack, packedPtr, packedLen, allocResult, handOver, takeFromHost, readUtf8 } from "./abi";
export { sd_call, sd_log, sd_error, sd_job_progress, sd_job_interrupt } from "./host";
export { ExtensionContext, OperationOptions, JobOptions, ExtensionInfo, fail } from "./context";
export { CallResult, CallError, callRaw, callTyped, callQuery, callAction, expandMethodName } from "./call";
export { JobContext, Interrupt, Jobs, DispatchOptions, Progress } from "./jobs";
export { Logger, LogLevel, log } from "./log";
export { RawFields, rawFields, decodeJsonString, quote } from "./raw-json";
export { sdkAbort } from "./abort";
export { schemaOf } from "./schema";
export { JsonObject, JsonArray } from "./json-builder";
export { Vdfs, vdfs, Entry, NewEntry, EntryFilter, EntryPage, Sidecar, SidecarContent } from "./capabilities/vdfs";
export { Ai, ai, OcrOptions, OcrResult, OcrPage, Classification, Embeddings } from "./capabilities/ai";
export { Http, http, HttpRequest, HttpResponse } from "./capabilities/http";
export { Credentials, credentials, Credential } from "./capabilities/credentials";
export { JobsCapability, jobs, JobStatus } from "./capabilities/jobs";
export { base64Encode, base64Decode } from "./capabilities/common";
