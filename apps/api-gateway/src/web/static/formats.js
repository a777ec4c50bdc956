// The target and its options, rendered from GET /v1/formats: one list of targets grouped by category,
// and one field per option of the chosen target (a number with its range, or a list of values).
import { api } from './api.js';
import { $, el } from './dom.js';

const DEFAULT_TARGET = { audio: 'mp3', video: 'mp4', image: 'jpg' };
const OPTION_LABEL = {
  crf: 'Quality (CRF)',
  fps: 'Frames per second',
  video_bitrate: 'Video bitrate (kbit/s)',
  audio_bitrate: 'Audio bitrate (kbit/s)',
  sample_rate: 'Sample rate (Hz)',
  audio_channels: 'Audio channels',
  width: 'Width (px)',
  height: 'Height (px)',
  start: 'Start at (s)',
  duration: 'Duration (s)',
  time: 'Frame at (s)',
  quality: 'Quality',
};
const EXTENSIONS = {
  audio: 'wav mp3 flac ogg oga opus m4a aac wma aiff',
  video: 'mp4 m4v mov mkv webm avi wmv mpg mpeg ts 3gp',
  image: 'png jpg jpeg gif webp bmp tif tiff',
};
const EXTENSION_KIND = Object.fromEntries(
  Object.entries(EXTENSIONS).flatMap(([kind, list]) => list.split(' ').map((ext) => [ext, kind])),
);

const catalog = { targets: [], byTarget: new Map(), chosenByHand: false };

const humanize = (name) => OPTION_LABEL[name] || name.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());

/** audio, video or image: from the file's media type, else from its extension; undefined when unknown. */
export function kindOf(file) {
  const major = (file.type || '').split('/')[0];
  if (major === 'audio' || major === 'video' || major === 'image') return major;
  const ext = (file.name.split('.').pop() || '').toLowerCase();
  return EXTENSION_KIND[ext];
}

export function showFormError(message) {
  $('#form-error').textContent = message || '';
}

/** The catalog entry of the chosen target. */
export const selectedTarget = () => catalog.byTarget.get($('#target').value);

/** Fills the target list from the catalog (MP4 first chosen) and follows the user's choice. */
export async function loadFormats(onChange) {
  const select = $('#target');
  select.addEventListener('change', () => {
    catalog.chosenByHand = true;
    showFormError('');
    renderOptions();
    onChange();
  });
  try {
    catalog.targets = await api('/v1/formats');
  } catch (err) {
    select.textContent = '';
    select.append(el('option', { text: 'Formats could not be loaded' }));
    showFormError(err.message);
    return;
  }
  catalog.byTarget = new Map(catalog.targets.map((t) => [t.target, t]));
  select.textContent = '';
  for (const category of ['video', 'audio', 'image']) {
    const targets = catalog.targets.filter((t) => t.category === category);
    if (!targets.length) continue;
    const label = category[0].toUpperCase() + category.slice(1);
    const options = targets.map((t) => el('option', { value: t.target, text: targetLabel(t) }));
    select.append(el('optgroup', { label }, options));
  }
  select.disabled = false;
  select.value = catalog.byTarget.has('mp4') ? 'mp4' : catalog.targets[0].target;
  renderOptions();
  onChange();
}

/** "MP3 (LAME)" as it is; "MP4 · MPEG-4 (H.264 + AAC)" when the description does not start with the name. */
function targetLabel(t) {
  const name = t.target.toUpperCase();
  return t.description.toUpperCase().startsWith(name) ? t.description : `${name} · ${t.description}`;
}

/** Proposes the usual target for the first picked kind (MP3 for audio…), unless the user chose one. */
export function proposeTargetFor(kind) {
  const proposed = DEFAULT_TARGET[kind];
  if (!kind || catalog.chosenByHand || !catalog.byTarget.has(proposed) || $('#target').value === proposed) return;
  $('#target').value = proposed;
  renderOptions();
}

/** Targets that cannot take every picked kind are disabled (the server would refuse them). */
export function markAccepted(kinds) {
  const select = $('#target');
  for (const option of select.querySelectorAll('option[value]')) {
    const t = catalog.byTarget.get(option.value);
    option.disabled = !!t && kinds.some((k) => !t.accepts.includes(k));
  }
  const selected = select.selectedOptions[0];
  if (!selected?.disabled) return;
  const takesAll = (t) => !!t && kinds.every((x) => t.accepts.includes(x));
  const preferred = catalog.byTarget.get(DEFAULT_TARGET[kinds[0]]);
  const fallback = takesAll(preferred) ? preferred : catalog.targets.find(takesAll);
  if (fallback) {
    select.value = fallback.target;
    renderOptions();
  }
}

/** The line beside the target: its extension and what it accepts, or why nothing fits the picked files. */
export function renderTargetDesc(mixed = false) {
  const desc = $('#target-desc');
  const t = selectedTarget();
  desc.classList.toggle('error', mixed);
  if (mixed) desc.textContent = 'No format takes all these files at once: convert them separately.';
  else desc.textContent = t ? `.${t.extension} · accepts ${t.accepts.join(', ')}` : '';
}

function renderOptions() {
  const t = selectedTarget();
  const box = $('#option-fields');
  box.textContent = '';
  if (!t) return;
  renderTargetDesc();
  const entries = Object.entries(t.options);
  $('#options-count').textContent = entries.length ? `· ${entries.length} optional settings` : '· none for this format';
  for (const [name, spec] of entries) box.append(optionField(name, spec));
}

/** One option: a list for enums, a number field with the catalog's range otherwise. */
function optionField(name, spec) {
  const id = `opt-${name}`;
  const byDefault = spec.default !== undefined;
  let control;
  let hint;
  if (spec.type === 'enum') {
    const first = el('option', { value: '', text: byDefault ? `Default (${spec.default})` : 'Default' });
    const values = spec.values.map((v) => el('option', { value: String(v), text: String(v) }));
    control = el('select', { id, name }, first, values);
    hint = spec.description;
  } else {
    const integer = spec.type === 'integer';
    control = el('input', {
      id,
      name,
      type: 'number',
      min: spec.min,
      max: spec.max,
      step: integer ? 1 : 'any',
      inputmode: integer ? 'numeric' : 'decimal',
      placeholder: byDefault ? String(spec.default) : 'auto',
    });
    hint = `${spec.description} ${spec.min}–${spec.max}${byDefault ? `, default ${spec.default}` : ''}.`;
  }
  const label = el('span', { text: humanize(name) });
  return el('label', { for: id, title: spec.description }, label, control, el('span', { class: 'hint', text: hint }));
}

/** The options the user filled in, checked against the catalog's types and ranges. */
export function readOptions(t) {
  const options = {};
  const problems = [];
  for (const [name, spec] of Object.entries(t.options)) {
    const control = document.getElementById(`opt-${name}`);
    const raw = control ? control.value.trim() : '';
    if (raw === '') continue;
    if (spec.type === 'enum') {
      const v = spec.values.find((x) => String(x) === raw);
      if (v === undefined) problems.push(`${humanize(name)}: choose one of ${spec.values.join(', ')}`);
      else options[name] = v;
      continue;
    }
    const n = Number(raw);
    if (!Number.isFinite(n) || (spec.type === 'integer' && !Number.isInteger(n)) || n < spec.min || n > spec.max) {
      const what = spec.type === 'integer' ? 'a whole number' : 'a number';
      problems.push(`${humanize(name)}: ${what} from ${spec.min} to ${spec.max}`);
    } else {
      options[name] = n;
    }
  }
  return { options, problems };
}
