import { InMemoryObjectStore, objectStoreContract } from '@kiln/storage/testing';

objectStoreContract('InMemoryObjectStore', async () => {
  const store = new InMemoryObjectStore();
  return {
    store,
    cleanup: async () => undefined,
    createIncompleteUpload: async (key) => void store.beginMultipartUpload(key),
  };
});

describe('InMemoryObjectStore', () => {
  it('ping fails while marked unavailable', async () => {
    const store = new InMemoryObjectStore();
    store.available = false;
    await expect(store.ping()).rejects.toMatchObject({ code: 'unavailable' });
  });
});
