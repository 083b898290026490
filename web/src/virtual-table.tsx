/**
 * A windowed table: only the rows in view (plus a few either side) are in the DOM, so 10,000 jobs
 * cost as much to render as 30. Rows have one fixed height; the body is a scroll box whose inner
 * spacer has the full height. ARIA table roles with aria-rowcount/aria-rowindex tell assistive
 * technology how many rows there are and where each rendered one sits.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';

export interface Column<T> {
  key: string;
  header: string;
  /** CSS grid track, e.g. `minmax(8rem, 1fr)` or `6rem`. */
  width: string;
  cell: (row: T) => ComponentChildren;
}

export interface VirtualTableProps<T> {
  label: string;
  rows: T[];
  rowKey: (row: T) => string;
  columns: Column<T>[];
  rowHeight?: number;
  /** Height of the scroll box in px (default: fills to the bottom of the window, at least 240). */
  height?: number;
  overscan?: number;
  empty?: ComponentChildren;
}

export function VirtualTable<T>({ label, rows, rowKey, columns, rowHeight = 40, height, overscan = 8, empty }: VirtualTableProps<T>) {
  const scroller = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(height ?? 480);

  useLayoutEffect(() => {
    if (height !== undefined) return;
    const fit = () => {
      const top = scroller.current?.getBoundingClientRect().top ?? 0;
      setViewport(Math.max(240, window.innerHeight - top - 16));
    };
    fit();
    window.addEventListener('resize', fit);
    return () => window.removeEventListener('resize', fit);
  }, [height]);

  // A shorter list (a filter) must not leave the view scrolled past its end.
  useEffect(() => {
    const max = Math.max(0, rows.length * rowHeight - viewport);
    if (scrollTop > max && scroller.current) {
      scroller.current.scrollTop = max;
      setScrollTop(max);
    }
  }, [rows.length, rowHeight, viewport, scrollTop]);

  const grid = columns.map((c) => c.width).join(' ');
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const last = Math.min(rows.length, Math.ceil((scrollTop + viewport) / rowHeight) + overscan);
  const visible: preact.JSX.Element[] = [];
  for (let i = first; i < last; i++) {
    const row = rows[i]!;
    visible.push(
      <div role="row" class="vt-row" aria-rowindex={i + 2} key={rowKey(row)} style={{ top: `${i * rowHeight}px`, height: `${rowHeight}px`, gridTemplateColumns: grid }}>
        {columns.map((c) => (
          <div role="cell" class={`vt-cell vt-${c.key}`} key={c.key}>
            {c.cell(row)}
          </div>
        ))}
      </div>,
    );
  }

  // The header scrolls with the body (sticky at its top), so both have the same width, with or
  // without a scrollbar.
  return (
    <div role="table" aria-label={label} aria-rowcount={rows.length + 1} class="vt" data-rows={rows.length}>
      <div
        class="vt-body"
        ref={scroller}
        tabIndex={0}
        aria-label={`${label}: ${rows.length} rows, scroll for more`}
        style={{ height: `${viewport}px` }}
        onScroll={(e) => setScrollTop((e.currentTarget as HTMLDivElement).scrollTop)}
      >
        <div role="rowgroup" class="vt-headgroup">
          <div role="row" class="vt-head" aria-rowindex={1} style={{ gridTemplateColumns: grid }}>
            {columns.map((c) => (
              <div role="columnheader" class={`vt-cell vt-${c.key}`} key={c.key}>
                {c.header}
              </div>
            ))}
          </div>
        </div>
        <div role="rowgroup">
          {rows.length === 0 ? (
            <div class="vt-empty">{empty ?? 'Nothing to show.'}</div>
          ) : (
            <div class="vt-spacer" style={{ height: `${rows.length * rowHeight}px` }}>
              {visible}
            </div>
          )}
        </div>
      </div>
    </div>
  );
}
