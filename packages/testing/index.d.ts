export * from 'spacedrive-extensions/testing';
