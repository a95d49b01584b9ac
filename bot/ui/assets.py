"""The page's stylesheet and its small scripts (plain strings handed to Gradio)."""

# Enter / Ask: empty the box in the browser at once and append the question to the asked list.
ENQUEUE_JS = """(q, asked) => {
  q = (q || '').trim();
  let a = [];
  try { a = JSON.parse(asked || '[]'); } catch (e) { a = []; }
  if (q) a.push(q);
  return ['', JSON.stringify(a)];
}"""

ENQUEUE_EXAMPLE_JS = """(q, asked) => {
  let a = [];
  try { a = JSON.parse(asked || '[]'); } catch (e) { a = []; }
  a.push(q);
  return [q, JSON.stringify(a)];
}"""

COPY_JS = """(text) => {
  const btn = document.querySelector('#copy-btn');
  const done = (ok) => { if (!btn) return; const old = 'Copy with sources';
    btn.textContent = ok ? 'Copied' : 'Nothing to copy yet'; setTimeout(() => { btn.textContent = old; }, 1500); };
  if (!text) { done(false); return; }
  window.__copied = text;
  const fallback = () => { const t = document.createElement('textarea'); t.value = text; document.body.appendChild(t);
    t.select(); try { document.execCommand('copy'); } catch (e) {} t.remove(); done(true); };
  if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(() => done(true), fallback);
  else fallback();
}"""

# Clicks and keys inside our own HTML (chips, glosses, "Show in document", "← Sources", Remove),
# drag-and-drop onto the documents panel, the phone's "Sources (n)" drawer, and where the
# panel scrolls and the keyboard's focus goes when its content changes.
PAGE_JS = """() => {
  const send = (cmd) => {
    const t = document.querySelector('#bridge textarea, #bridge input');
    const go = document.querySelector('#bridge-go');
    if (!t || !go) return;
    t.value = JSON.stringify(Object.assign({t: Date.now()}, cmd));
    t.dispatchEvent(new Event('input', {bubbles: true}));
    setTimeout(() => go.click(), 0);
  };
  const phone = () => window.matchMedia('(max-width: 760px)').matches;
  const panel = () => document.querySelector('#sources-panel');
  // Gradio scopes the page's CSS to its container, so the drawer state lives on #main, not <body>.
  const main = () => document.querySelector('#main') || document.body;
  const isOpen = () => main().classList.contains('drawer-open');
  const drawer = (open) => {
    main().classList.toggle('drawer-open', open);
    const b = document.querySelector('#sources-toggle');
    if (b) b.setAttribute('aria-expanded', open ? 'true' : 'false');
    label();
  };
  const label = () => {
    const b = document.querySelector('#sources-toggle');
    const p = panel();
    if (!b || !p) return;
    const n = p.querySelectorAll('.src-card').length;
    const text = isOpen() ? 'Close sources' : `Sources (${n})`;
    if (b.textContent !== text) b.textContent = text;  // unconditional writes would re-trigger the observer
  };
  const classArg = (el, prefix) => {
    const c = [...el.classList].find(x => x.startsWith(prefix));
    return c ? c.slice(prefix.length) : '';
  };
  // Where the keyboard's focus goes once the panel shows what was asked for: the viewer after a
  // chip, the top of the source cards after "← Sources"; the chip again after Esc.
  let want = null, opener = null;
  const shown = () => [...(panel()?.querySelectorAll('[data-source]') || [])].map(e => e.dataset.source);
  const gloss = (g, open) => {
    document.querySelectorAll('.gl.open').forEach(x => { if (x !== g) x.classList.remove('open'); });
    if (g) g.classList.toggle('open', open);
  };
  document.addEventListener('click', (e) => {
    const chip = e.target.closest('button.cite');
    if (chip) { e.preventDefault(); want = 'viewer'; opener = chip;
                send({op: 'open', aid: classArg(chip, 'aid-'), n: +classArg(chip, 'n-')});
                if (phone()) drawer(true); return; }
    const show = e.target.closest('button.open-doc');
    if (show) { want = 'viewer'; opener = show; send({op: 'open', aid: show.dataset.aid, n: +show.dataset.n}); return; }
    const back = e.target.closest('.viewer button.back');
    if (back) { want = 'sources'; send({op: 'sources', aid: back.dataset.aid}); return; }
    const rm = e.target.closest('button.rm');
    if (rm) {
      const row = rm.closest('li.doc');
      if (row.querySelector('.confirm')) return;
      const box = document.createElement('span');
      box.className = 'confirm';
      box.append(`Delete ${rm.dataset.name} from the documents folder? `);
      const yes = document.createElement('button'); yes.type = 'button'; yes.className = 'rm-yes'; yes.textContent = 'Delete';
      const no = document.createElement('button'); no.type = 'button'; no.className = 'rm-no'; no.textContent = 'Cancel';
      yes.onclick = () => { box.textContent = 'Removing…'; send({op: 'remove', name: rm.dataset.name, shows: shown()}); };
      no.onclick = () => { box.remove(); rm.focus(); };
      box.append(yes, ' ', no);
      row.append(box);
      return;
    }
    if (e.target.closest('#sources-toggle')) { drawer(!isOpen()); return; }
    const g = e.target.closest('.gl');
    gloss(g, g ? !g.classList.contains('open') : false);
  });
  document.addEventListener('keydown', (e) => {
    const g = e.target.closest && e.target.closest('.gl');
    if (g && (e.key === 'Enter' || e.key === ' ')) { e.preventDefault(); gloss(g, !g.classList.contains('open')); return; }
    if (e.key !== 'Escape') return;
    if (document.querySelector('.gl.open')) { gloss(null); return; }
    const p = panel();
    const back = p && p.querySelector('.viewer button.back');
    if (back && p.contains(document.activeElement)) { back.click(); return; }
    if (isOpen()) { drawer(false); (opener && opener.isConnected ? opener : document.querySelector('#sources-toggle')).focus(); }
  });
  // Dropping files anywhere on the documents panel hands them to the upload button's file input.
  const side = () => document.querySelector('#documents');
  document.addEventListener('dragover', (e) => {
    const d = side(); if (d && d.contains(e.target)) { e.preventDefault(); d.classList.add('dragging'); } });
  document.addEventListener('dragleave', (e) => { const d = side(); if (d && !d.contains(e.relatedTarget)) d.classList.remove('dragging'); });
  document.addEventListener('drop', (e) => {
    const d = side(); if (!d || !d.contains(e.target)) return;
    e.preventDefault(); d.classList.remove('dragging');
    const input = document.querySelector('#upload-row input[type=file]');
    if (!input || !e.dataTransfer || !e.dataTransfer.files.length) return;
    input.files = e.dataTransfer.files;
    input.dispatchEvent(new Event('change', {bubbles: true}));
  });
  // On a phone the toggle sits in the row of chat tools, where it covers nothing.
  const toggle = document.createElement('button');
  toggle.id = 'sources-toggle'; toggle.type = 'button'; toggle.setAttribute('aria-expanded', 'false');
  toggle.setAttribute('aria-controls', 'sources-panel');
  toggle.textContent = 'Sources (0)';
  (document.querySelector('#chat-tools') || document.querySelector('#main') || document.body).appendChild(toggle);
  let lastCited = null, lastList = null;
  const tidy = () => {
    // Gradio labels each chat message with its HTML source: a screen reader would read the markup
    // aloud. Without the label the message's own text (and its chips) is what is read.
    document.querySelectorAll('#chat [aria-label*="<"]').forEach(m => m.removeAttribute('aria-label'));
    document.querySelectorAll('#chat button.cite:not([aria-label])').forEach(c =>
      c.setAttribute('aria-label', `Source ${classArg(c, 'n-')}`));
    const p = panel();
    if (p && !p.hasAttribute('role')) { p.setAttribute('role', 'region'); p.setAttribute('aria-label', 'Sources'); }
  };
  new MutationObserver(() => {
    tidy();
    label();
    const p = panel();
    if (!p) return;
    const cited = p.querySelector('#cited');
    if (cited && cited !== lastCited) {
      // The viewer opened: bring the cited passage into view inside the panel (not the page).
      lastCited = cited;
      const viewer = p.querySelector('.viewer');
      if (want === 'viewer' && viewer) viewer.focus({preventScroll: true});
      want = null;
      requestAnimationFrame(() => {
        const top = cited.getBoundingClientRect().top - p.getBoundingClientRect().top + p.scrollTop;
        const head = p.querySelector('.viewer-head');  // sticky: keep the passage below it
        p.scrollTop = Math.max(0, top - (head ? head.offsetHeight : 0) - 24);
      });
    }
    const list = p.querySelector('.sources, .src-empty');
    if (list && list !== lastList) {
      // Source cards (after an answer or "← Sources") start at the top, card [1] first.
      lastList = list;
      p.scrollTop = 0;
      const head = list.querySelector('.src-head');
      if (want === 'sources' && head) head.focus({preventScroll: true});
      if (want === 'sources') want = null;
    }
  }).observe(document.body, {subtree: true, childList: true, attributes: true, attributeFilter: ['aria-label']});
  tidy();
}"""

CSS = """
.gradio-container { max-width: 1400px !important; padding-top: 6px !important; padding-bottom: 0 !important; }
#app-status { font-size: 0.9rem; display: flex; align-items: baseline; gap: 0 1rem; flex-wrap: wrap; }
#app-status h1 { margin: 0; font-size: 1.3rem; white-space: nowrap; }
#app-status > * { flex: 0 1 auto; }
#app-status .err { color: #b91c1c; }
#app-status details.model { display: inline-block; position: relative; }
#app-status details.model summary { cursor: pointer; opacity: 0.75; font-size: 0.85rem; }
#app-status details.model .pop { position: absolute; z-index: 30; top: 1.6rem; left: 0; min-width: 18rem;
  padding: 0.5rem 0.7rem; border-radius: 6px; background: var(--background-fill-primary);
  border: 1px solid var(--border-color-primary); box-shadow: 0 4px 14px rgba(0,0,0,.15); overflow-wrap: anywhere; }
#chat { height: calc(100vh - 300px) !important; min-height: 260px; }
#examples { gap: 6px; flex-wrap: nowrap; }
#examples button { flex: 1 1 0 !important; min-width: 0 !important; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; display: block; text-align: left; }
#main { gap: 12px; }
#chat-tools { align-items: center; }
#vote-note { font-size: 0.85rem; opacity: 0.8; }
.ans .cite { display: inline-block; border: 1px solid var(--color-accent); color: var(--color-accent);
  background: transparent; border-radius: 999px; padding: 0 0.4em; margin: 0 0.1em; font-size: 0.85em;
  line-height: 1.35; cursor: pointer; font-weight: 600; }
.ans .cite:hover, .ans .cite:focus { background: var(--color-accent); color: white; }
.sys { font-style: italic; opacity: 0.85; }
#chat .message-row:has(.sys) + .message-buttons { display: none !important; }
#side-col { gap: 8px !important; height: calc(100vh - 118px); min-height: 480px; flex-wrap: nowrap !important; }
#side-col > * { flex-shrink: 0; }
#documents .docs { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 0.4rem 0.6rem; }
#documents .docs.dragging, #documents.dragging .docs { outline: 2px dashed var(--color-accent); }
.docs-head { font-weight: 600; font-size: 0.95rem; }
.doc-list { list-style: none; margin: 0.2rem 0 0; padding: 0; max-height: 12rem; overflow-y: auto; }
.doc { display: flex; flex-wrap: wrap; gap: 0 0.6rem; align-items: baseline; padding: 0.15rem 0;
  border-top: 1px solid var(--border-color-primary); font-size: 0.88rem; }
.doc:first-child { border-top: 0; }
.doc-name { font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
.doc-meta { opacity: 0.75; font-size: 0.8rem; }
.doc .rm, .confirm button { margin-left: auto; font-size: 0.78rem; border: 1px solid var(--border-color-primary);
  border-radius: 5px; padding: 0 0.4rem; background: var(--background-fill-secondary); cursor: pointer; }
.confirm { flex-basis: 100%; font-size: 0.82rem; color: #92400e; }
.confirm .rm-yes { color: #b91c1c; font-weight: 600; }
.drop-hint { font-size: 0.78rem; opacity: 0.65; margin-top: 0.2rem; }
.build { display: flex; flex-direction: column; gap: 2px; font-size: 0.82rem; margin: 0.2rem 0; }
.build progress { width: 100%; height: 0.6rem; }
#upload-row { align-items: center; gap: 8px; flex-wrap: nowrap; }
#upload-row > * { flex: 0 1 auto !important; }
#upload-notice { font-size: 0.88rem; overflow-wrap: anywhere; }
#side-col > #sources-panel { flex: 1 1 0 !important; min-height: 200px; }  /* takes what is left, scrolls */
#sources-panel { overflow-y: auto !important; max-width: 100%;
  border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 0.5rem 0.6rem !important; }
.src-empty { opacity: 0.7; padding: 0.5rem 0; }
.src-head { font-weight: 600; margin: 0 0 0.5rem; overflow-wrap: anywhere; }
.src-meta { font-size: 0.8rem; opacity: 0.8; margin: 0 0 0.4rem; overflow-wrap: anywhere; }
.src-note { font-size: 0.9rem; margin: 0 0 0.6rem; padding: 0.5rem 0.7rem; border-radius: 6px;
  background: #fef3c7; color: #713f12; }
details.near summary { cursor: pointer; font-size: 0.9rem; margin-bottom: 0.4rem; }
.src-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 0.5rem 0.7rem;
  margin: 0 0 0.6rem; background: var(--background-fill-primary); }
.src-top { display: flex; gap: 0.5rem; align-items: baseline; flex-wrap: wrap; font-size: 0.82rem; }
.src-n { font-weight: 700; color: var(--color-accent); }
.src-file { font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
.rel { border-radius: 999px; padding: 0 0.45em; font-size: 0.75rem; cursor: help; }
.rel-high { background: #dcfce7; color: #14532d; } .rel-medium { background: #fef9c3; color: #713f12; }
.rel-low { background: #f3f4f6; color: #374151; }
.src-text { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 0.92rem; line-height: 1.45;
  margin: 0.3rem 0; max-height: 14rem; overflow-y: auto; }
mark { background: #fde68a; color: #111827; border-radius: 3px; padding: 0 1px; }
.open-doc, .viewer .back { font-size: 0.8rem; border: 1px solid var(--border-color-primary); border-radius: 5px;
  padding: 0.05rem 0.5rem; background: var(--background-fill-secondary); cursor: pointer; }
.viewer-head { position: sticky; top: -0.6rem; margin-top: -0.6rem; padding: 0.6rem 0 0.4rem;
  background: var(--background-fill-primary); box-shadow: 0 6px 6px -6px rgba(0,0,0,.2);
  display: flex; gap: 0.5rem; align-items: baseline; flex-wrap: wrap; font-size: 0.85rem; z-index: 2; }
.doc-text { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 0.92rem; line-height: 1.5; }
.doc-text .ctx { opacity: 0.8; }
.doc-text .cited { background: #fffbeb; border-left: 3px solid #f59e0b; padding: 0.2rem 0.4rem; margin: 0.2rem 0; }
.doc-text .more, .page-label { font-size: 0.8rem; opacity: 0.6; font-style: italic; }
.gl { border-bottom: 1px dotted currentColor; cursor: help; position: relative; }
/* The gloss is the title (the one attribute that survives in chat messages); shown on hover, tap
   (.open, set by the page's script) and keyboard focus. */
.gl:hover::after, .gl:focus-visible::after, .gl.open::after { content: attr(title); position: absolute; left: 0;
  top: 1.4em; z-index: 20; white-space: normal; width: max-content; max-width: 16rem; padding: 0.3rem 0.5rem;
  border-radius: 5px; font-size: 0.8rem; line-height: 1.3; background: #111827; color: white; font-weight: normal;
  font-style: normal; pointer-events: none; }
/* Keyboard focus is always visible: a ring in a blue that reads on white, the accent and marks. */
.cite:focus-visible, .open-doc:focus-visible, .viewer .back:focus-visible, .doc .rm:focus-visible,
.confirm button:focus-visible, .rel:focus-visible, .gl:focus-visible, #sources-toggle:focus-visible,
.src-head:focus-visible, details.near summary:focus-visible, #app-status summary:focus-visible {
  outline: 3px solid #1d4ed8 !important; outline-offset: 2px; border-radius: 4px; }
.viewer:focus { outline: none; }
.viewer:focus-visible { outline: 3px solid #1d4ed8; outline-offset: -3px; }
#sources-toggle { display: none; }
@media (max-width: 760px) {
  #chat { height: 52vh !important; }
  #side-col { height: auto; min-height: 0; }
  #examples { flex-wrap: wrap; }
  #examples button { flex: 1 1 40% !important; white-space: normal; }
  #sources-panel { position: fixed !important; left: 0; right: 0; bottom: 0; height: 72vh; z-index: 1000;
    background: var(--background-fill-primary); border-radius: 12px 12px 0 0; box-shadow: 0 -6px 24px rgba(0,0,0,.25);
    transform: translateY(105%); transition: transform .2s ease, visibility 0s linear .2s; visibility: hidden; }
  /* Closed, it is hidden from the keyboard and screen readers too, not only moved off screen. */
  #main.drawer-open #sources-panel { transform: none; visibility: visible; transition: transform .2s ease; }
  /* Gradio's "scroll to the latest message" arrow floats above everything: not over the drawer. */
  #main.drawer-open .scroll-down-button-container { display: none !important; }
  #chat-tools { flex-wrap: wrap; gap: 6px; }
  #chat-tools > button { flex: 1 1 40% !important; }
  /* In the row of chat tools while the drawer is closed; a tab above the drawer's top edge while open,
     over the page behind it and never over the drawer's own text. */
  #chat-tools > #sources-toggle, #sources-toggle { display: block; order: -1; flex: 1 1 100% !important; border-radius: 999px; padding: 0.4rem 1rem; font-weight: 600;
    background: var(--color-accent); color: white; border: 0; cursor: pointer; }
  #main.drawer-open #sources-toggle { position: fixed; right: 12px; bottom: calc(72vh + 8px); z-index: 1001;
    box-shadow: 0 2px 10px rgba(0,0,0,.25); }
  .src-text { max-height: none; }
}
"""
