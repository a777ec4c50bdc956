// The presets area of the OpenAPI document: named conversions of the calling API key.
import { empty, json, listOf, op, pathParam, PRESETS, ref } from './openapi-operation';

const presetId = pathParam('id', 'The preset’s id, or its name.');

export function presetPaths() {
  return {
    '/v1/presets': {
      post: op({
        tag: PRESETS,
        summary:
          'Create a preset: a named target + options, checked like a conversion; 409 when the name is taken for this key',
        body: 'post /v1/presets',
        ok: { '201': json(ref('Preset'), 'Created') },
        errors: [409],
      }),
      get: op({ tag: PRESETS, summary: 'List this key’s presets (by name)', ok: { '200': listOf('Preset') } }),
    },
    '/v1/presets/{id}': {
      parameters: [presetId],
      get: op({ tag: PRESETS, summary: 'Get a preset', ok: { '200': json(ref('Preset')) }, errors: [404] }),
      delete: op({
        tag: PRESETS,
        summary: 'Delete a preset; conversions made from it keep their target and options',
        ok: { '204': empty('Deleted') },
        errors: [404],
      }),
    },
  };
}
