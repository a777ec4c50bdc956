// Small DOM helpers for the page's modules: find one element, build one element.

/** The first element matching a selector (in the document, or under root). */
export const $ = (selector, root = document) => root.querySelector(selector);

/** Builds an element; text always goes in as text (file names never become markup). */
export function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

/** Fills a progress bar (its inner span, aria-valuenow and the label beside it); tone is '', 'done' or 'failed'. */
export function setBar(bar, label, pct, tone) {
  bar.className = `bar ${tone}`;
  bar.firstChild.style.width = `${pct}%`;
  bar.setAttribute('aria-valuenow', String(pct));
  label.textContent = `${pct}%`;
}
