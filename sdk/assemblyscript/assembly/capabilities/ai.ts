/**
 * `ai()`: offline OCR and text models (`query:ai.ocr.v1`, `query:ai.classify_text.v1`,
 * `query:ai.embed.v1`). Needs the `permissions.call` prefix `query:ai.`.
 */
import { JSON } from "json-as";
import { CallError, CallResult } from "../call";
import { rawFields } from "../raw-json";
import { E_BAD_ENVELOPE, E_HOST } from "../messages";
import { ObjectBuilder, callFields, intOr, numOr, rawItems, stringArray } from "./common";

const M_OCR = "query:ai.ocr.v1";
const M_CLASSIFY = "query:ai.classify_text.v1";
const M_EMBED = "query:ai.embed.v1";

/** Options of {@link Ai.ocr}; all optional. */
export class OcrOptions {
  /** `image/png`, `image/jpeg` or `application/pdf`; sniffed from the bytes when null. */
  mimeType: string | null = null;
  /** OCR language (default `eng`). */
  language: string | null = null;
  /** PDF only: 1-based pages to read (default all). */
  pages: i32[] | null = null;
  /** PDF only: OCR pages even when they have a text layer. */
  forceOcr: bool = false;
}

/** One page of an OCR result. */
export class OcrPage {
  page: i32 = 0;
  text: string = "";
  /** 0..1 */
  confidence: f64 = 0;
  /** `text-layer` or `ocr`. */
  source: string = "";
}

/** Text and confidence of an image or PDF. */
export class OcrResult {
  text: string = "";
  /** 0..1 */
  confidence: f64 = 0;
  mimeType: string = "";
  pages: OcrPage[] = [];
}

/** The model's answer. */
export class Classification {
  /** The answer as raw JSON: a JSON string without a schema, the parsed object with one. */
  resultJson: string = "null";
  model: string = "";

  /** The answer parsed into `T` (with a schema: a `@json` class following it). */
  resultAs<T>(): T {
    return JSON.parse<T>(this.resultJson);
  }

  /** The answer as text (without a schema). */
  text(): string {
    return JSON.parse<string>(this.resultJson);
  }
}

/** Embeddings of texts, in order. */
export class Embeddings {
  vectors: Array<Float64Array> = [];
  model: string = "";
  dimensions: i32 = 0;
}

function bad<T>(method: string): CallResult<T> {
  return CallResult.failure<T>(new CallError(E_HOST, E_BAD_ENVELOPE + method));
}

/** OCR and text models. */
export class Ai {
  /** Text of a PNG, JPEG or PDF, offline (Tesseract; a PDF's text layer where it has one). */
  ocr(bytes: Uint8Array, opts: OcrOptions | null = null): CallResult<OcrResult> {
    return this.ocrPayload(new ObjectBuilder().bytes("data", bytes), opts);
  }

  /**
   * `ocr` of a document given as base64 text, as it arrived in an input (a `contentEncoding:
   * base64` field): passed on as it is, without decoding it into guest memory only to encode it
   * again. A scanned receipt is megabytes of base64.
   */
  ocrBase64(base64: string, opts: OcrOptions | null = null): CallResult<OcrResult> {
    return this.ocrPayload(new ObjectBuilder().str("data", base64), opts);
  }

  private ocrPayload(b: ObjectBuilder, opts: OcrOptions | null): CallResult<OcrResult> {
    if (opts !== null) {
      b.str("mime_type", opts.mimeType).str("language", opts.language);
      const pages = opts.pages;
      if (pages !== null) {
        const parts = new Array<string>(pages.length);
        for (let i = 0; i < pages.length; i++) parts[i] = unchecked(pages[i]).toString();
        b.raw("pages", "[" + parts.join(",") + "]");
      }
      if (opts.forceOcr) b.bool("force_ocr", true);
    }
    const r = callFields(M_OCR, b.toString());
    if (!r.ok) return r.mapError<OcrResult>();
    const out = new OcrResult();
    out.text = r.value.string("text");
    out.confidence = numOr(r.value, "confidence", 0);
    out.mimeType = r.value.string("mime_type");
    const items = rawItems(r.value.getOr("pages", "[]"));
    if (items === null) return bad<OcrResult>(M_OCR);
    for (let i = 0; i < items!.length; i++) {
      const f = rawFields(unchecked(items![i]));
      if (f === null) return bad<OcrResult>(M_OCR);
      const p = new OcrPage();
      p.page = <i32>intOr(f!, "page", 0);
      p.text = f!.string("text");
      p.confidence = numOr(f!, "confidence", 0);
      p.source = f!.string("source");
      out.pages.push(p);
    }
    return CallResult.success<OcrResult>(out);
  }

  /**
   * Asks the configured model about `text` with the instruction `prompt`; with `schemaJson` (a
   * JSON Schema as text) the answer is JSON following it, checked by the host.
   */
  classifyText(text: string, prompt: string, schemaJson: string | null = null): CallResult<Classification> {
    const b = new ObjectBuilder().str("prompt", prompt).str("text", text).raw("schema", schemaJson);
    const r = callFields(M_CLASSIFY, b.toString());
    if (!r.ok) return r.mapError<Classification>();
    const c = new Classification();
    c.resultJson = r.value.getOr("result", "null");
    c.model = r.value.string("model");
    return CallResult.success<Classification>(c);
  }

  /** Embeddings of `texts`. */
  embed(texts: string[]): CallResult<Embeddings> {
    const r = callFields(M_EMBED, '{"texts":' + stringArray(texts) + "}");
    if (!r.ok) return r.mapError<Embeddings>();
    const out = new Embeddings();
    out.model = r.value.string("model");
    out.dimensions = <i32>intOr(r.value, "dimensions", 0);
    const rows = rawItems(r.value.getOr("embeddings", "[]"));
    if (rows === null) return bad<Embeddings>(M_EMBED);
    for (let i = 0; i < rows!.length; i++) {
      const nums = rawItems(unchecked(rows![i]));
      if (nums === null) return bad<Embeddings>(M_EMBED);
      const v = new Float64Array(nums!.length);
      for (let j = 0; j < nums!.length; j++) v[j] = F64.parseFloat(unchecked(nums![j]));
      out.vectors.push(v);
    }
    return CallResult.success<Embeddings>(out);
  }
}

const client = new Ai();

/** OCR and text models. */
export function ai(): Ai {
  return client;
}


