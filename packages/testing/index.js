// The harness lives in the host package (it runs the real host); this package is its entry point.
export * from 'spacedrive-extensions/testing';
