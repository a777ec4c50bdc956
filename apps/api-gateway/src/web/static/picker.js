// The files to convert: picked with the file dialog or dropped on the drop zone, listed with their kind
// and size (each removable), and the start button that hands them over with the chosen target.
import { $, el } from './dom.js';
import { formatBytes } from './display.js';
import {
  kindOf,
  markAccepted,
  proposeTargetFor,
  readOptions,
  renderTargetDesc,
  selectedTarget,
  showFormError,
} from './formats.js';

const picked = [];

/** Wires the drop zone, the file input and the start button; onStart(file, target, options) once per file. */
export function wirePicker(onStart) {
  const drop = $('#drop');
  const input = $('#file-input');
  drop.addEventListener('click', () => input.click());
  drop.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      input.click();
    }
  });
  input.addEventListener('change', () => {
    addFiles(input.files);
    input.value = '';
  });
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    if (e.dataTransfer?.files.length) addFiles(e.dataTransfer.files);
  });
  // A file dropped next to the zone must not replace the page.
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());
  $('#start').addEventListener('click', () => startPicked(onStart));
}

function addFiles(list) {
  for (const file of list) {
    const same = (f) => f.name === file.name && f.size === file.size && f.lastModified === file.lastModified;
    if (!picked.some(same)) picked.push(file);
  }
  proposeTargetFor(picked.map(kindOf).find(Boolean));
  renderPicked();
}

function renderPicked() {
  const list = $('#picked');
  list.textContent = '';
  picked.forEach((file, i) => {
    const label = `Remove ${file.name}`;
    const remove = () => {
      picked.splice(i, 1);
      renderPicked();
    };
    list.append(
      el(
        'li',
        {},
        el('span', { text: file.name }),
        el('span', { class: 'kind', text: `${kindOf(file) || 'file'} · ${formatBytes(file.size)}` }),
        el('button', { type: 'button', title: label, 'aria-label': label, onclick: remove }, '×'),
      ),
    );
  });
  markAccepted([...new Set(picked.map(kindOf).filter(Boolean))]);
  updateStart();
}

/** The start button: enabled when files are picked and one target takes them all. */
export function updateStart() {
  const selected = $('#target').selectedOptions[0];
  const mixed = picked.length > 0 && !!selected && selected.disabled;
  renderTargetDesc(mixed);
  $('#start').disabled = !picked.length || $('#target').disabled || mixed;
  $('#start').textContent = picked.length > 1 ? `Start ${picked.length} conversions` : 'Start conversion';
}

function startPicked(onStart) {
  const t = selectedTarget();
  if (!t) return;
  const { options, problems } = readOptions(t);
  if (problems.length) {
    $('#options-box').open = true;
    showFormError(problems.join('; '));
    return;
  }
  showFormError('');
  const files = picked.splice(0);
  renderPicked();
  for (const file of files) onStart(file, t.target, options);
}
