/**
 * cap-test: calls every host capability through the SDK's typed wrappers, one handler per flow,
 * each reporting what it saw (or the error code and message it got) so tests can check both the
 * host and the wrappers.
 *
 * Actions (action:cap-test:<name>.input.v1): credentials_store, credentials_delete, http_fetch,
 * vdfs_flow, jobs_flow, burst.
 * Queries (query:cap-test:<name>.v1): credentials_get, credentials_list, credentials_get_as, ocr,
 * classify, embed.
 * Jobs: cap-test:slow_a, cap-test:slow_b (sleep in steps, checking for interrupts).
 */
import { JSON } from "json-as";
import {
  CallError,
  ExtensionContext,
  EntryFilter,
  HttpRequest,
  Interrupt,
  JobContext,
  JobOptions,
  NewEntry,
  OcrOptions,
  ai,
  base64Decode,
  callRaw,
  credentials,
  http,
  jobs,
  vdfs,
} from "spacedrive-sdk";

export { sd_abi_version, sd_alloc, sd_free } from "spacedrive-sdk";

// ---------------------------------------------------------------- types

@json
class Outcome {
  ok: bool = true;
  code: string | null = null;
  message: string | null = null;
}

function failed(e: CallError | null): Outcome {
  const o = new Outcome();
  o.ok = false;
  if (e !== null) {
    o.code = e.code;
    o.message = e.message;
  }
  return o;
}

@json
class NameSecret {
  name: string = "";
  @optional
  secret: string = "";
  @optional
  owner: string = "";
}

@json
class SecretOut {
  ok: bool = true;
  code: string | null = null;
  message: string | null = null;
  secret: string | null = null;
  metadata_json: string | null = null;
}

@json
class NamesOut {
  ok: bool = true;
  code: string | null = null;
  names: string[] = [];
}

@json
class FetchIn {
  url: string = "";
  @optional
  method: string = "GET";
  @optional
  body_text: string = "";
  @optional
  timeout_ms: i32 = 0;
  @optional
  max_bytes: i32 = -1;
}

@json
class FetchOut {
  ok: bool = true;
  code: string | null = null;
  message: string | null = null;
  status: i32 = 0;
  body_text: string | null = null;
  body_length: i32 = 0;
  content_type: string | null = null;
  redirects: i32 = 0;
}

@json
class LibraryIn {
  @optional
  library_id: string = "";
  @optional
  path: string = "cap-test/receipt.txt";
}

@json
class ReceiptMeta {
  vendor: string = "";
  total: f64 = 0;
}

@json
class OcrSidecar {
  text: string = "";
  confidence: f64 = 0;
}

@json
class VdfsOut {
  ok: bool = true;
  code: string | null = null;
  message: string | null = null;
  step: string = "";
  entry_id: string = "";
  library_id: string = "";
  entry_type: string = "";
  content: string = "";
  vendor_after_update: string = "";
  listed: i32 = 0;
  sidecar_checksum: string = "";
  sidecar_text: string = "";
  sidecars_listed: i32 = 0;
  get_after_delete_code: string = "";
}

@json
class DataIn {
  data: string = "";
}

@json
class OcrOut {
  ok: bool = true;
  code: string | null = null;
  message: string | null = null;
  text: string = "";
  confidence: f64 = 0;
  pages: i32 = 0;
  mime_type: string = "";
}

@json
class ClassifyIn {
  text: string = "";
  prompt: string = "";
  @optional
  schema: string = "";
}

@json
class ClassifyOut {
  ok: bool = true;
  code: string | null = null;
  message: string | null = null;
  result_json: string = "";
  model: string = "";
}

@json
class EmbedIn {
  texts: string[] = [];
}

@json
class EmbedOut {
  ok: bool = true;
  code: string | null = null;
  message: string | null = null;
  count: i32 = 0;
  dimensions: i32 = 0;
  first: f64 = 0;
}

@json
class SlowParams {
  steps: i32 = 1;
  @optional
  step_ms: i32 = 100;
}

@json
class SlowState {
  done: i32 = 0;
}

@json
class JobsIn {
  @optional
  steps: i32 = 50;
}

@json
class JobsOut {
  ok: bool = true;
  code: string | null = null;
  message: string | null = null;
  job_id: string = "";
  status_after_dispatch: string = "";
  job_type: string = "";
  status_after_cancel: string = "";
  unknown_code: string = "";
}

@json
class BurstIn {
  n: i32 = 1;
}

@json
class BurstOut {
  ok_count: i32 = 0;
  first_error_code: string | null = null;
  first_error_message: string | null = null;
}

// ---------------------------------------------------------------- registration

const ANY = '{"type":"object"}';

export function plugin_init(): i32 {
  const ctx = new ExtensionContext();
  ctx.registerAction("credentials_store", "credentials_store");
  ctx.registerAction("credentials_delete", "credentials_delete");
  ctx.registerQuery("credentials_get", "credentials_get");
  ctx.registerQuery("credentials_list", "credentials_list");
  ctx.registerQuery("credentials_get_as", "credentials_get_as");
  ctx.registerAction("http_fetch", "http_fetch");
  ctx.registerAction("vdfs_flow", "vdfs_flow");
  ctx.registerQuery("ocr", "ocr");
  ctx.registerQuery("classify", "classify");
  ctx.registerQuery("embed", "embed");
  ctx.registerAction("jobs_flow", "jobs_flow");
  ctx.registerAction("burst", "burst");
  const slow = new JobOptions("Sleeps in steps, checkpointing each", ANY);
  ctx.registerJob("slow_a", "slow_job", true, slow);
  ctx.registerJob("slow_b", "slow_job", true, slow);
  return ctx.initStatus();
}

// ---------------------------------------------------------------- credentials

export function credentials_store(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const input = ctx.readInput<NameSecret>();
  const r = credentials().store(input.name, input.secret, '{"by":"cap-test"}');
  return ctx.writeOutput<Outcome>(r.ok ? new Outcome() : failed(r.error));
}

export function credentials_delete(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const input = ctx.readInput<NameSecret>();
  const r = credentials().delete(input.name);
  return ctx.writeOutput<Outcome>(r.ok ? new Outcome() : failed(r.error));
}

export function credentials_get(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const input = ctx.readInput<NameSecret>();
  const r = credentials().get(input.name);
  const out = new SecretOut();
  if (r.ok) {
    out.secret = r.value.secret;
    out.metadata_json = r.value.metadataJson;
  } else {
    out.ok = false;
    out.code = r.error!.code;
    out.message = r.error!.message;
  }
  return ctx.writeOutput<SecretOut>(out);
}

export function credentials_list(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const r = credentials().list();
  const out = new NamesOut();
  if (r.ok) out.names = r.value;
  else {
    out.ok = false;
    out.code = r.error!.code;
  }
  return ctx.writeOutput<NamesOut>(out);
}

/** Tries to read a credential of another owner by naming it (the host must refuse). */
export function credentials_get_as(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const input = ctx.readInput<NameSecret>();
  const r = callRaw("query:credentials.get.v1", '{"name":' + JSON.stringify<string>(input.name) + ',"owner":' + JSON.stringify<string>(input.owner) + "}");
  const out = new SecretOut();
  if (r.ok) out.secret = r.value;
  else {
    out.ok = false;
    out.code = r.error!.code;
    out.message = r.error!.message;
  }
  return ctx.writeOutput<SecretOut>(out);
}

// ---------------------------------------------------------------- http

export function http_fetch(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const input = ctx.readInput<FetchIn>();
  const req = HttpRequest.get(input.url).withMethod(input.method).header("x-from", "cap-test");
  if (input.body_text.length > 0) req.withBodyText(input.body_text);
  if (input.timeout_ms > 0) req.timeout(input.timeout_ms);
  if (input.max_bytes >= 0) req.maxBytes(input.max_bytes);
  const r = http().fetch(req);
  const out = new FetchOut();
  if (r.ok) {
    const res = r.value;
    out.status = res.status;
    out.body_text = res.bodyText;
    out.body_length = res.body.length;
    out.content_type = res.header("Content-Type");
    out.redirects = res.redirects;
  } else {
    out.ok = false;
    out.code = r.error!.code;
    out.message = r.error!.message;
  }
  return ctx.writeOutput<FetchOut>(out);
}

// ---------------------------------------------------------------- vdfs

function vdfsFail(ctx: ExtensionContext, out: VdfsOut, step: string, e: CallError | null): i64 {
  out.ok = false;
  out.step = step;
  if (e !== null) {
    out.code = e.code;
    out.message = e.message;
  }
  return ctx.writeOutput<VdfsOut>(out);
}

/** Every entry and sidecar call in turn: create, get, list, update, write/read/list/delete sidecar, delete. */
export function vdfs_flow(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const input = ctx.readInput<LibraryIn>();
  const lib = vdfs(input.library_id.length > 0 ? input.library_id : null);
  const out = new VdfsOut();
  const meta = new ReceiptMeta();
  meta.vendor = "ACME";
  meta.total = 12.5;
  const created = lib.createEntry(
    new NewEntry("Receipt", input.path, "FinancialDocument").withMetadata<ReceiptMeta>(meta).withContent(Uint8Array.wrap(String.UTF8.encode("TOTAL 12.50"))),
  );
  if (!created.ok) return vdfsFail(ctx, out, "create_entry", created.error);
  const id = created.value.id;
  out.entry_id = id;
  out.library_id = created.value.libraryId;

  const got = lib.getEntry(id, true);
  if (!got.ok) return vdfsFail(ctx, out, "get_entry", got.error);
  out.entry_type = got.value.entryType;
  const content = got.value.content;
  if (content !== null) out.content = String.UTF8.decode(content.buffer.slice(content.byteOffset, content.byteOffset + content.byteLength));

  const filter = new EntryFilter();
  filter.entryType = "FinancialDocument";
  filter.pathPrefix = "cap-test/";
  const listed = lib.listEntries(filter);
  if (!listed.ok) return vdfsFail(ctx, out, "list_entries", listed.error);
  out.listed = listed.value.entries.length;

  const updated = lib.updateMetadataJson(id, '{"vendor":"ACME Corp"}');
  if (!updated.ok) return vdfsFail(ctx, out, "update_metadata", updated.error);
  out.vendor_after_update = updated.value.metadataAs<ReceiptMeta>().vendor;

  const side = new OcrSidecar();
  side.text = "TOTAL 12.50";
  side.confidence = 0.9;
  const written = lib.writeSidecarJson<OcrSidecar>(id, "ocr", side);
  if (!written.ok) return vdfsFail(ctx, out, "write_sidecar", written.error);
  out.sidecar_checksum = written.value.checksum;
  const read = lib.readSidecar(id, "ocr");
  if (!read.ok) return vdfsFail(ctx, out, "read_sidecar", read.error);
  out.sidecar_text = read.value.jsonAs<OcrSidecar>().text;
  const sidecars = lib.listSidecars(id);
  if (!sidecars.ok) return vdfsFail(ctx, out, "list_sidecars", sidecars.error);
  out.sidecars_listed = sidecars.value.length;
  const delSide = lib.deleteSidecar(id, "ocr");
  if (!delSide.ok) return vdfsFail(ctx, out, "delete_sidecar", delSide.error);

  const deleted = lib.deleteEntry(id);
  if (!deleted.ok) return vdfsFail(ctx, out, "delete_entry", deleted.error);
  const after = lib.getEntry(id);
  out.get_after_delete_code = after.ok ? "" : after.error!.code;
  out.step = "done";
  return ctx.writeOutput<VdfsOut>(out);
}

// ---------------------------------------------------------------- ai

export function ocr(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const input = ctx.readInput<DataIn>();
  const bytes = base64Decode(input.data);
  const out = new OcrOut();
  if (bytes === null) {
    out.ok = false;
    out.code = "INVALID_INPUT";
    return ctx.writeOutput<OcrOut>(out);
  }
  const r = ai().ocr(bytes!, new OcrOptions());
  if (r.ok) {
    out.text = r.value.text;
    out.confidence = r.value.confidence;
    out.pages = r.value.pages.length;
    out.mime_type = r.value.mimeType;
  } else {
    out.ok = false;
    out.code = r.error!.code;
    out.message = r.error!.message;
  }
  return ctx.writeOutput<OcrOut>(out);
}

export function classify(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const input = ctx.readInput<ClassifyIn>();
  const r = ai().classifyText(input.text, input.prompt, input.schema.length > 0 ? input.schema : null);
  const out = new ClassifyOut();
  if (r.ok) {
    out.result_json = r.value.resultJson;
    out.model = r.value.model;
  } else {
    out.ok = false;
    out.code = r.error!.code;
    out.message = r.error!.message;
  }
  return ctx.writeOutput<ClassifyOut>(out);
}

export function embed(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const input = ctx.readInput<EmbedIn>();
  const r = ai().embed(input.texts);
  const out = new EmbedOut();
  if (r.ok) {
    out.count = r.value.vectors.length;
    out.dimensions = r.value.dimensions;
    if (r.value.vectors.length > 0 && r.value.vectors[0].length > 0) out.first = r.value.vectors[0][0];
  } else {
    out.ok = false;
    out.code = r.error!.code;
    out.message = r.error!.message;
  }
  return ctx.writeOutput<EmbedOut>(out);
}

// ---------------------------------------------------------------- jobs

/** Dispatches its own job, reads its status, cancels it, reads the status again. */
export function jobs_flow(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const input = ctx.readInput<JobsIn>();
  const out = new JobsOut();
  const params = new SlowParams();
  params.steps = input.steps;
  params.step_ms = 100;
  const d = jobs().dispatch<SlowParams>("cap-test:slow_a", params);
  if (!d.ok) {
    out.ok = false;
    out.code = d.error!.code;
    out.message = d.error!.message;
    return ctx.writeOutput<JobsOut>(out);
  }
  out.job_id = d.value;
  const s = jobs().getStatus(d.value);
  if (!s.ok) {
    out.ok = false;
    out.code = s.error!.code;
    out.message = s.error!.message;
    return ctx.writeOutput<JobsOut>(out);
  }
  out.status_after_dispatch = s.value.status;
  out.job_type = s.value.jobType;
  const c = jobs().cancel(d.value);
  if (!c.ok) {
    out.ok = false;
    out.code = c.error!.code;
    out.message = c.error!.message;
    return ctx.writeOutput<JobsOut>(out);
  }
  const s2 = jobs().getStatus(d.value);
  if (s2.ok) out.status_after_cancel = s2.value.status;
  const unknown = jobs().getStatus("no-such-job");
  out.unknown_code = unknown.ok ? "" : unknown.error!.code;
  return ctx.writeOutput<JobsOut>(out);
}

/** Jobs cap-test:slow_a and cap-test:slow_b: `steps` sleeps of `step_ms`, one checkpoint each. */
export function slow_job(ptr: i32, len: i32): i64 {
  const job = JobContext.fromParams(ptr, len);
  const params = job.params<SlowParams>();
  const saved = job.state<SlowState>();
  const state = new SlowState();
  state.done = saved !== null ? saved.done : 0;
  const ctx = new ExtensionContext();
  while (state.done < params.steps) {
    if (params.step_ms > 0) ctx.sleep(params.step_ms);
    state.done++;
    const next = job.reportProgress<SlowState>(<f64>state.done / <f64>params.steps, state);
    if (next == Interrupt.Pause || next == Interrupt.Cancel) return job.interrupted<SlowState>(state);
  }
  return job.complete<SlowState>(state);
}

// ---------------------------------------------------------------- rate limit

/** Makes `n` host calls (credentials.list) and reports how many succeeded and the first refusal. */
export function burst(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const input = ctx.readInput<BurstIn>();
  const out = new BurstOut();
  for (let i = 0; i < input.n; i++) {
    const r = callRaw("query:credentials.list.v1", "{}");
    if (r.ok) out.ok_count++;
    else if (out.first_error_code === null) {
      out.first_error_code = r.error!.code;
      out.first_error_message = r.error!.message;
    }
  }
  return ctx.writeOutput<BurstOut>(out);
}
