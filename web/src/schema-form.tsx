/**
 * A form generated from a JSON Schema (a method's input, a job type's params): one labelled field
 * per property — text, number, a yes/no choice, a list for enums, comma-separated values for
 * arrays of scalars, a file picker for binary fields (`contentEncoding: base64`, or a name ending
 * in `_base64`), nested fieldsets for objects, and JSON for anything else. Empty optional fields
 * are left out of the payload, so the operation's defaults apply; the daemon validates the rest
 * with the same schema and its errors are shown as they come.
 */
import { useState } from 'preact/hooks';
import type { JsonSchema } from './api.js';

export type Payload = Record<string, unknown>;

export interface SchemaFormProps {
  schema: JsonSchema;
  value: Payload;
  onChange: (value: Payload) => void;
  /** Called with the file name chosen for a binary field (the CLI equivalent names the file). */
  onFile?: (path: string, fileName: string | null) => void;
  idPrefix: string;
}

export function isBinaryField(name: string, s: JsonSchema): boolean {
  return s.contentEncoding === 'base64' || name.endsWith('_base64');
}

function typeOf(s: JsonSchema): string | undefined {
  if (typeof s.type === 'string') return s.type;
  if (Array.isArray(s.type)) return s.type.find((t) => t !== 'null');
  return undefined;
}

/** Whether the schema is an object whose fields a form can show. */
export function hasFields(schema: JsonSchema): boolean {
  return (typeOf(schema) === 'object' || schema.properties !== undefined) && Object.keys(schema.properties ?? {}).length > 0;
}

export function SchemaForm({ schema, value, onChange, onFile, idPrefix }: SchemaFormProps) {
  if (!hasFields(schema)) {
    return <JsonField id={`${idPrefix}-json`} label="Payload (JSON)" value={value} onChange={(v) => onChange((v ?? {}) as Payload)} />;
  }
  return <ObjectFields schema={schema} value={value} onChange={onChange} onFile={onFile} path="" idPrefix={idPrefix} />;
}

function ObjectFields({ schema, value, onChange, onFile, path, idPrefix }: SchemaFormProps & { path: string }) {
  const required = new Set(schema.required ?? []);
  const set = (name: string, v: unknown) => {
    const next = { ...value };
    if (v === undefined) delete next[name];
    else next[name] = v;
    onChange(next);
  };
  return (
    <div class="schema-fields">
      {Object.entries(schema.properties ?? {}).map(([name, s]) => (
        <Field
          key={name}
          name={name}
          schema={s}
          required={required.has(name)}
          value={value[name]}
          onChange={(v) => set(name, v)}
          onFile={onFile}
          path={path ? `${path}.${name}` : name}
          id={`${idPrefix}-${path ? `${path}-` : ''}${name}`.replace(/[^a-zA-Z0-9_-]/g, '-')}
        />
      ))}
    </div>
  );
}

interface FieldProps {
  name: string;
  schema: JsonSchema;
  required: boolean;
  value: unknown;
  onChange: (v: unknown) => void;
  onFile?: ((path: string, fileName: string | null) => void) | undefined;
  path: string;
  id: string;
}

function Field({ name, schema, required, value, onChange, onFile, path, id }: FieldProps) {
  const type = typeOf(schema);
  const label = (
    <label for={id}>
      {name}
      {required ? <span class="required" aria-label="required"> *</span> : null}
      {type ? <span class="field-type"> {isBinaryField(name, schema) ? 'file' : type}</span> : null}
    </label>
  );
  const help = schema.description ? (
    <small class="help" id={`${id}-help`}>
      {schema.description}
      {schema.default !== undefined ? ` (default: ${JSON.stringify(schema.default)})` : ''}
    </small>
  ) : schema.default !== undefined ? (
    <small class="help" id={`${id}-help`}>default: {JSON.stringify(schema.default)}</small>
  ) : null;
  const described = help ? `${id}-help` : undefined;

  let control;
  if (isBinaryField(name, schema)) {
    control = (
      <input
        id={id}
        type="file"
        aria-describedby={described}
        required={required}
        onChange={async (e) => {
          const file = (e.currentTarget as HTMLInputElement).files?.[0];
          if (!file) {
            onFile?.(path, null);
            onChange(undefined);
            return;
          }
          onFile?.(path, file.name);
          onChange(await toBase64(file));
        }}
      />
    );
  } else if (Array.isArray(schema.enum)) {
    control = (
      <select id={id} aria-describedby={described} value={value === undefined ? '' : JSON.stringify(value)} onChange={(e) => onChange(parseChoice((e.currentTarget as HTMLSelectElement).value))}>
        <option value="">{required ? '(choose)' : '(default)'}</option>
        {schema.enum.map((v) => (
          <option key={JSON.stringify(v)} value={JSON.stringify(v)}>
            {typeof v === 'string' ? v : JSON.stringify(v)}
          </option>
        ))}
      </select>
    );
  } else if (type === 'boolean') {
    control = (
      <select id={id} aria-describedby={described} value={value === undefined ? '' : String(value)} onChange={(e) => onChange(parseChoice((e.currentTarget as HTMLSelectElement).value))}>
        <option value="">(default)</option>
        <option value="true">yes</option>
        <option value="false">no</option>
      </select>
    );
  } else if (type === 'integer' || type === 'number') {
    control = (
      <input
        id={id}
        type="number"
        step={type === 'integer' ? 1 : 'any'}
        min={schema.minimum}
        max={schema.maximum}
        required={required}
        aria-describedby={described}
        value={typeof value === 'number' ? String(value) : ''}
        onInput={(e) => {
          const raw = (e.currentTarget as HTMLInputElement).value;
          onChange(raw === '' ? undefined : Number(raw));
        }}
      />
    );
  } else if (type === 'string') {
    control = (
      <input
        id={id}
        type="text"
        required={required}
        aria-describedby={described}
        placeholder={schema.format === 'date-time' ? '2026-12-31T12:00:00Z' : ''}
        value={typeof value === 'string' ? value : ''}
        onInput={(e) => {
          const raw = (e.currentTarget as HTMLInputElement).value;
          onChange(raw === '' ? undefined : raw);
        }}
      />
    );
  } else if (type === 'array' && schema.items && ['string', 'integer', 'number'].includes(typeOf(schema.items) ?? '')) {
    const itemType = typeOf(schema.items);
    control = (
      <input
        id={id}
        type="text"
        required={required}
        aria-describedby={described}
        placeholder="comma-separated"
        value={Array.isArray(value) ? value.join(', ') : ''}
        onInput={(e) => {
          const raw = (e.currentTarget as HTMLInputElement).value;
          const parts = raw.split(',').map((p) => p.trim()).filter((p) => p !== '');
          onChange(parts.length === 0 ? undefined : itemType === 'string' ? parts : parts.map(Number));
        }}
      />
    );
  } else if (type === 'object' && hasFields(schema)) {
    return (
      <fieldset class="field">
        <legend>
          {name}
          {required ? <span class="required" aria-label="required"> *</span> : null}
        </legend>
        {help}
        <ObjectFields schema={schema} value={(value as Payload) ?? {}} onChange={(v) => onChange(Object.keys(v).length === 0 ? undefined : v)} onFile={onFile} path={path} idPrefix={id} />
      </fieldset>
    );
  } else {
    return (
      <div class="field">
        <JsonField id={id} label={`${name}${required ? ' *' : ''} (JSON)`} value={value} onChange={onChange} described={described} />
        {help}
      </div>
    );
  }
  return (
    <div class="field">
      {label}
      {control}
      {help}
    </div>
  );
}

function parseChoice(raw: string): unknown {
  if (raw === '') return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/** A JSON value typed as text; a value that is not JSON is taken as a string. */
function JsonField({ id, label, value, onChange, described }: { id: string; label: string; value: unknown; onChange: (v: unknown) => void; described?: string | undefined }) {
  const [text, setText] = useState(value === undefined ? '' : JSON.stringify(value, null, 2));
  const [problem, setProblem] = useState<string | null>(null);
  return (
    <>
      <label for={id}>{label}</label>
      <textarea
        id={id}
        rows={4}
        spellcheck={false}
        aria-describedby={described}
        aria-invalid={problem !== null}
        value={text}
        onInput={(e) => {
          const raw = (e.currentTarget as HTMLTextAreaElement).value;
          setText(raw);
          if (raw.trim() === '') {
            setProblem(null);
            onChange(undefined);
            return;
          }
          try {
            onChange(JSON.parse(raw));
            setProblem(null);
          } catch {
            onChange(raw);
            setProblem('not JSON: sent as a string');
          }
        }}
      />
      {problem ? <small class="help warn">{problem}</small> : null}
    </>
  );
}

export function toBase64(file: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => {
      const url = String(reader.result);
      resolve(url.slice(url.indexOf(',') + 1));
    };
    reader.onerror = () => reject(reader.error ?? new Error('could not read the file'));
    reader.readAsDataURL(file);
  });
}
