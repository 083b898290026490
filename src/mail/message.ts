/**
 * One RFC 822 message turned into the JSON shape `query:mail.fetch_since.v1` returns, with
 * mailparser. Shared by the IMAP and Maildir sources so both give byte-identical results for the
 * same message.
 */
import { simpleParser, type AddressObject } from 'mailparser';
import type { MailAttachment, MailMessage } from './types.js';

function addressText(a: AddressObject | AddressObject[] | undefined): string {
  if (a === undefined) return '';
  return (Array.isArray(a) ? a : [a]).map((x) => x.text).join(', ');
}

/**
 * Parses `raw` into a {@link MailMessage}.
 *
 * @param fallbackDate used when the message has no (valid) Date header: the IMAP internal date or
 *   the Maildir file's delivery time, as mail clients do.
 */
export async function parseMessage(uid: number, raw: Buffer, opts: { includeRaw: boolean; fallbackDate: Date }): Promise<MailMessage> {
  let parsed;
  try {
    // keepCidLinks: the HTML keeps `cid:` references instead of inlining every embedded image a
    // second time as a data: URL (the images are in `attachments` already).
    parsed = await simpleParser(raw, { keepCidLinks: true });
  } catch (err) {
    // One broken message must not stop every scan at its UID forever: it comes back empty,
    // with the reason, and the caller moves past it.
    const broken: MailMessage = {
      uid,
      message_id: '',
      subject: '',
      from: '',
      to: '',
      date: opts.fallbackDate.toISOString(),
      size: raw.length,
      text: '',
      attachments: [],
      parse_error: (err as Error).message || String(err),
    };
    if (opts.includeRaw) broken.raw = raw.toString('base64');
    return broken;
  }
  const date = parsed.date !== undefined && !Number.isNaN(parsed.date.getTime()) ? parsed.date : opts.fallbackDate;
  const attachments: MailAttachment[] = parsed.attachments.map((a, i) => ({
    filename: a.filename ?? `attachment-${i + 1}`,
    content_type: a.contentType,
    size: a.size,
    inline: a.related === true || a.contentDisposition === 'inline',
    data: a.content.toString('base64'),
  }));
  const message: MailMessage = {
    uid,
    message_id: parsed.messageId ?? '',
    subject: parsed.subject ?? '',
    from: addressText(parsed.from),
    to: addressText(parsed.to),
    date: date.toISOString(),
    size: raw.length,
    text: parsed.text ?? '',
    attachments,
  };
  if (typeof parsed.html === 'string') message.html = parsed.html;
  if (opts.includeRaw) message.raw = raw.toString('base64');
  return message;
}
