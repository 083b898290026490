/**
 * denied: a manifest granting nothing. `query:denied:try_all.v1` tries every host capability
 * through the SDK's wrappers and reports, for each, whether it was refused and with what code
 * and message (the host must answer PERMISSION_DENIED naming the missing permission).
 */
import { JSON } from "json-as";
import { CallError, ExtensionContext, HttpRequest, NewEntry, ai, callRaw, credentials, http, jobs, vdfs } from "spacedrive-sdk";

export { sd_abi_version, sd_alloc, sd_free } from "spacedrive-sdk";

@json
class Attempt {
  capability: string = "";
  ok: bool = false;
  code: string = "";
  message: string = "";
}

@json
class TryAllIn {
  /** A URL to try to fetch (a local test server). */
  url: string = "";
  /** A library id to try to use. */
  library_id: string = "";
  /** A job id to try to read and cancel. */
  job_id: string = "";
}

@json
class TryAllOut {
  attempts: Attempt[] = [];
}

function record(out: TryAllOut, capability: string, ok: bool, error: CallError | null): void {
  const a = new Attempt();
  a.capability = capability;
  a.ok = ok;
  if (error !== null) {
    a.code = error.code;
    a.message = error.message;
  }
  out.attempts.push(a);
}

export function plugin_init(): i32 {
  const ctx = new ExtensionContext();
  ctx.registerQuery("try_all", "try_all");
  return ctx.initStatus();
}

export function try_all(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const input = ctx.readInput<TryAllIn>();
  const out = new TryAllOut();

  let r0 = credentials().store("token", "s3cret");
  record(out, "credentials.store", r0.ok, r0.error);
  const r1 = credentials().get("token");
  record(out, "credentials.get", r1.ok, r1.error);
  r0 = credentials().delete("token");
  record(out, "credentials.delete", r0.ok, r0.error);
  const r2 = credentials().list();
  record(out, "credentials.list", r2.ok, r2.error);

  const r3 = http().fetch(HttpRequest.get(input.url));
  record(out, "http.fetch", r3.ok, r3.error);

  const r4 = vdfs().createEntry(new NewEntry("x", "denied/x", "File"));
  record(out, "vdfs.create_entry (default library)", r4.ok, r4.error);
  const r5 = vdfs(input.library_id).listEntries();
  record(out, "vdfs.list_entries (named library)", r5.ok, r5.error);
  const r6 = vdfs(input.library_id).readSidecar("e", "ocr");
  record(out, "vdfs.read_sidecar", r6.ok, r6.error);

  const r7 = ai().ocr(Uint8Array.wrap(String.UTF8.encode("not an image")));
  record(out, "ai.ocr", r7.ok, r7.error);
  const r8 = ai().classifyText("text", "prompt");
  record(out, "ai.classify_text", r8.ok, r8.error);
  const r9 = ai().embed(["a"]);
  record(out, "ai.embed", r9.ok, r9.error);

  // Another extension's job type: its own ("denied:…") need no grant.
  const r10 = jobs().dispatchJson("cap-test:slow_a", '{"steps":1,"step_ms":0}');
  record(out, "jobs.dispatch", r10.ok, r10.error);
  const r11 = jobs().getStatus(input.job_id);
  record(out, "jobs.get_status", r11.ok, r11.error);
  const r12 = jobs().cancel(input.job_id);
  record(out, "jobs.cancel", r12.ok, r12.error);

  const r13 = callRaw("query:core.status.v1", "{}");
  record(out, "core.status", r13.ok, r13.error);
  const r14 = callRaw("query:cap-test:credentials_list.v1", "{}");
  record(out, "another extension", r14.ok, r14.error);
  const r15 = callRaw("action:files.copy.input.v1", '{"sources":["/nonexistent"],"destination":"/nonexistent2"}');
  record(out, "files.copy", r15.ok, r15.error);

  return ctx.writeOutput<TryAllOut>(out);
}
