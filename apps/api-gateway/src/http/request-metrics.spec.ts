import type { Request, Response } from 'express';
import { methodLabel, routeLabel, statusLabel } from './request-metrics';

const req = (route: unknown, baseUrl = '') => ({ route, baseUrl }) as unknown as Request;

describe('request metric labels', () => {
  it('uses the route pattern, never the raw URL', () => {
    expect(routeLabel(req({ path: '/v1/jobs/:id' }))).toBe('/v1/jobs/:id');
    expect(routeLabel(req({ path: '/v1/jobs' }))).toBe('/v1/jobs');
  });

  it('prefixes the mount path of a sub-router', () => {
    expect(routeLabel(req({ path: '/api/queues' }, '/admin/queues'))).toBe('/admin/queues/api/queues');
  });

  it('says unmatched when no route answered (or the pattern is not a string)', () => {
    expect(routeLabel(req(undefined))).toBe('unmatched');
    expect(routeLabel(req({ path: /^\/x/ }))).toBe('unmatched');
  });

  it('bounds the method and reports aborted answers', () => {
    expect(methodLabel('post')).toBe('POST');
    expect(methodLabel('PROPFIND')).toBe('other');
    expect(statusLabel({ statusCode: 201, writableFinished: true } as Response)).toBe('201');
    expect(statusLabel({ statusCode: 200, writableFinished: false } as Response)).toBe('aborted');
  });
});
