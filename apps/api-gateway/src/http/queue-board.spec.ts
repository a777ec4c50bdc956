import type { NextFunction, Request, Response } from 'express';
import { parseConfig } from '@kiln/config';
import { hashKey } from '../auth/principal';
import { adminAuth, sameSecret } from './queue-board';

const base = {
  KILN_API_KEYS: 'kiln_tenant_key_0123456789',
  DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/kiln',
  REDIS_URL: 'redis://127.0.0.1:6379',
  S3_ENDPOINT: 'http://127.0.0.1:7480',
  S3_ACCESS_KEY: 'a',
  S3_SECRET_KEY: 'b',
  KILN_WEBHOOK_SECRET: 'whsec_0123456789abcdef',
};

function call(env: Record<string, string>, headers: Record<string, string>) {
  const answer = { status: 0, body: undefined as unknown, headers: {} as Record<string, string>, passed: false };
  const req = { header: (name: string) => headers[name.toLowerCase()] } as unknown as Request;
  const res = {
    setHeader: (k: string, v: string) => (answer.headers[k.toLowerCase()] = v),
    status(code: number) {
      answer.status = code;
      return this;
    },
    json(body: unknown) {
      answer.body = body;
    },
  } as unknown as Response;
  adminAuth(parseConfig({ ...base, ...env }))(req, res, (() => (answer.passed = true)) as NextFunction);
  return answer;
}

describe('adminAuth: the queue board is for the operator', () => {
  const token = 'admin_token_0123456789abcdef';

  it('opens for the admin token only, by Bearer or Basic', () => {
    expect(call({ KILN_ADMIN_TOKEN: token }, { authorization: `Bearer ${token}` }).passed).toBe(true);
    expect(
      call({ KILN_ADMIN_TOKEN: token }, { authorization: `Basic ${Buffer.from(`ops:${token}`).toString('base64')}` })
        .passed,
    ).toBe(true);
    expect(call({ KILN_ADMIN_TOKEN: token }, { authorization: `Bearer ${token}x` })).toMatchObject({
      passed: false,
      status: 401,
    });
  });

  it('refuses a tenant key with 403, with or without an admin token configured', () => {
    for (const env of [{ KILN_ADMIN_TOKEN: token }, {}] as Record<string, string>[]) {
      expect(call(env, { 'x-api-key': 'kiln_tenant_key_0123456789' })).toMatchObject({ passed: false, status: 403 });
    }
  });

  it('is off without KILN_ADMIN_TOKEN: nothing opens it', () => {
    const off = call({}, { authorization: 'Bearer anything-at-all-0123456789' });
    expect(off).toMatchObject({ passed: false, status: 401 });
    expect(JSON.stringify(off.body)).toMatch(/KILN_ADMIN_TOKEN/);
  });

  it('compares secrets of any length without throwing', () => {
    expect(sameSecret('a', 'a')).toBe(true);
    expect(sameSecret('a', 'ab')).toBe(false);
    expect(sameSecret('', token)).toBe(false);
  });
});

describe('adminAuth: managed API keys', () => {
  const token = 'admin_token_0123456789abcdef';
  const adminKey = 'kiln_admin_key_0123456789';
  const readerKey = 'kiln_reader_key_0123456789';
  const keys = {
    lookup: async (hash: string) =>
      hash === hashKey(adminKey)
        ? { scopes: ['admin'] }
        : hash === hashKey(readerKey)
          ? { scopes: ['jobs:read'] }
          : undefined,
  };

  async function callWithKeys(env: Record<string, string>, headers: Record<string, string>) {
    const answer = { status: 0, body: undefined as unknown, passed: false };
    const req = { header: (name: string) => headers[name.toLowerCase()] } as unknown as Request;
    await new Promise<void>((resolve) => {
      const res = {
        setHeader: () => undefined,
        status(code: number) {
          answer.status = code;
          return this;
        },
        json(body: unknown) {
          answer.body = body;
          resolve();
        },
      } as unknown as Response;
      adminAuth(parseConfig({ ...base, ...env }), keys)(req, res, (() => {
        answer.passed = true;
        resolve();
      }) as NextFunction);
    });
    return answer;
  }

  it('opens for a key with the admin scope, with or without KILN_ADMIN_TOKEN; the token still works', async () => {
    for (const env of [{ KILN_ADMIN_TOKEN: token }, {}] as Record<string, string>[]) {
      expect(await callWithKeys(env, { 'x-api-key': adminKey })).toMatchObject({ passed: true });
      expect(await callWithKeys(env, { authorization: `Bearer ${adminKey}` })).toMatchObject({ passed: true });
    }
    expect(await callWithKeys({ KILN_ADMIN_TOKEN: token }, { authorization: `Bearer ${token}` })).toMatchObject({
      passed: true,
    });
  });

  it('refuses a managed key without the admin scope (403) and an unknown one (401)', async () => {
    const reader = await callWithKeys({}, { 'x-api-key': readerKey });
    expect(reader).toMatchObject({ passed: false, status: 403 });
    expect(reader.body).toEqual({
      error: {
        code: 'forbidden',
        message: 'The queue board is for operators: it needs the admin token or an API key with the scope "admin".',
      },
    });
    expect(await callWithKeys({}, { 'x-api-key': 'kiln_nobody_0123456789' })).toMatchObject({
      passed: false,
      status: 401,
    });
    expect(await callWithKeys({}, { 'x-api-key': 'kiln_tenant_key_0123456789' })).toMatchObject({
      passed: false,
      status: 403,
    });
  });
});
