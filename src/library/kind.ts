/**
 * What kind of file an indexed entry is: from its first bytes when they are a known signature
 * (a renamed PNG is still an image), else from its extension.
 */

const MAGIC: Array<{ kind: string; bytes: number[]; offset?: number }> = [
  { kind: 'image', bytes: [0x89, 0x50, 0x4e, 0x47] }, // PNG
  { kind: 'image', bytes: [0xff, 0xd8, 0xff] }, // JPEG
  { kind: 'image', bytes: [0x47, 0x49, 0x46, 0x38] }, // GIF
  { kind: 'image', bytes: [0x57, 0x45, 0x42, 0x50], offset: 8 }, // WEBP (RIFF....WEBP)
  { kind: 'document', bytes: [0x25, 0x50, 0x44, 0x46] }, // %PDF
  { kind: 'archive', bytes: [0x1f, 0x8b] }, // gzip
  { kind: 'archive', bytes: [0x37, 0x7a, 0xbc, 0xaf] }, // 7z
  { kind: 'audio', bytes: [0x49, 0x44, 0x33] }, // MP3 with ID3
  { kind: 'audio', bytes: [0x66, 0x4c, 0x61, 0x43] }, // FLAC
  { kind: 'video', bytes: [0x66, 0x74, 0x79, 0x70], offset: 4 }, // MP4/MOV (....ftyp)
  { kind: 'executable', bytes: [0x7f, 0x45, 0x4c, 0x46] }, // ELF
  { kind: 'executable', bytes: [0x00, 0x61, 0x73, 0x6d] }, // WebAssembly
];

const BY_EXTENSION: Record<string, string> = {};
const groups: Record<string, string[]> = {
  image: ['png', 'jpg', 'jpeg', 'gif', 'webp', 'bmp', 'tif', 'tiff', 'heic', 'svg', 'avif'],
  video: ['mp4', 'mov', 'mkv', 'webm', 'avi', 'm4v'],
  audio: ['mp3', 'flac', 'wav', 'ogg', 'm4a', 'aac', 'opus'],
  document: ['pdf', 'doc', 'docx', 'odt', 'rtf', 'xls', 'xlsx', 'ods', 'ppt', 'pptx', 'odp', 'epub'],
  text: ['txt', 'md', 'csv', 'tsv', 'log', 'rst'],
  code: ['ts', 'js', 'mjs', 'cjs', 'json', 'py', 'rs', 'go', 'c', 'h', 'cpp', 'java', 'rb', 'sh', 'html', 'css', 'xml', 'yaml', 'yml', 'toml', 'wat', 'sql'],
  email: ['eml', 'msg', 'mbox'],
  archive: ['zip', 'tar', 'gz', 'tgz', 'bz2', 'xz', '7z', 'rar', 'zst'],
};
for (const [kind, exts] of Object.entries(groups)) for (const ext of exts) BY_EXTENSION[ext] = kind;

/** The kind of a file from its name and (up to) its first 16 bytes; `unknown` when neither says. */
export function detectKind(name: string, head: Uint8Array): string {
  for (const m of MAGIC) {
    const at = m.offset ?? 0;
    if (head.length >= at + m.bytes.length && m.bytes.every((b, i) => head[at + i] === b)) {
      // A zip signature is shared by docx/xlsx/epub: let the extension refine it.
      return m.kind;
    }
  }
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) {
    const ext = extensionOf(name);
    return BY_EXTENSION[ext] === 'document' ? 'document' : 'archive';
  }
  return BY_EXTENSION[extensionOf(name)] ?? 'unknown';
}

function extensionOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot <= 0 ? '' : name.slice(dot + 1).toLowerCase();
}
