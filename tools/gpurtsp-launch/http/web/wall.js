/* SPDX-License-Identifier: MIT */
// Camera wall: a tile per camera from /api/cameras, thumbnails refreshed from
// frame.jpg?width=320 (small JPEGs the cameras' pipelines make once a
// second; the detail view takes the full frame) for the tiles on screen only
// (IntersectionObserver), so a thousand cameras cost what the twenty in view
// cost. A summary of the
// states, filter by state, search by id and sort find the broken ones; a
// click opens the camera's frame and status. Frames are fetched (not
// <img src>) so the bearer token can go in a header; the token comes from
// "#token=..." or the form and stays in sessionStorage.
'use strict';

const THUMB_INTERVAL_MS = 1000;
const THUMB_WIDTH = 320; // the launcher's default thumbnail_width
const STATUS_INTERVAL_MS = 2000;
const FULL_INTERVAL_MS = 200;
const MAX_IN_FLIGHT = 4;
const STATES = ['streaming', 'connecting', 'reconnecting', 'unauthorized', 'untrusted', 'failed'];
// Problems first when sorting by state.
const STATE_RANK = { failed: 0, unauthorized: 1, untrusted: 1, reconnecting: 2, connecting: 3, streaming: 4 };

const tiles = new Map(); // id -> tile entry, in config order
const visible = new Set(); // ids of the tiles on screen
let cameras = [];
let token = sessionStorage.getItem('gpurtsp-token') || '';
let inFlight = 0;
let fullId = null;
let pumpTimer = null;
let pumpAt = Infinity;
let order = '';

const observer = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    const id = entry.target.dataset.id;
    if (entry.isIntersecting) visible.add(id);
    else visible.delete(id);
  }
  wakePump(Date.now()); // tiles scrolled into view are due now
}, { rootMargin: '100px' });

function takeTokenFromHash() {
  const match = location.hash.match(/token=([^&]+)/);
  if (match) {
    token = decodeURIComponent(match[1]);
    sessionStorage.setItem('gpurtsp-token', token);
    history.replaceState(null, '', location.pathname);
  }
}

function request(path) {
  const headers = token ? { Authorization: 'Bearer ' + token } : {};
  return fetch(path, { headers, cache: 'no-store' }).then((response) => {
    if (response.status === 401) {
      document.getElementById('token-form').hidden = false;
      throw new Error('unauthorized');
    }
    return response;
  });
}

function cameraPath(id) {
  return 'api/cameras/' + encodeURIComponent(id);
}

function formatAge(ms) {
  if (ms === null) return 'no frame';
  return ms < 1000 ? ms + ' ms' : (ms / 1000).toFixed(1) + ' s';
}

function makeTile(camera) {
  const tile = document.createElement('div');
  tile.className = 'tile';
  tile.dataset.id = camera.id;
  const img = document.createElement('img');
  img.alt = camera.id;
  const label = document.createElement('div');
  label.className = 'label';
  label.innerHTML = '<span class="id"></span><span class="state"></span><span class="age"></span>';
  label.querySelector('.id').textContent = camera.id;
  tile.append(img, label);
  tile.addEventListener('click', () => openFull(camera.id));
  observer.observe(tile);
  return { tile, img, nextRefresh: 0, url: null, camera };
}

function removeTile(id, entry) {
  observer.unobserve(entry.tile);
  entry.tile.remove();
  if (entry.url) URL.revokeObjectURL(entry.url);
  tiles.delete(id);
  visible.delete(id);
}

function compare(a, b) {
  const sort = document.getElementById('sort').value;
  if (sort === 'state') return STATE_RANK[a.state] - STATE_RANK[b.state] || a.index - b.index;
  if (sort === 'age') {
    const age = (c) => (c.last_frame_age_ms === null ? Infinity : c.last_frame_age_ms);
    return age(b) - age(a) || a.index - b.index;
  }
  if (sort === 'id') return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  return a.index - b.index;
}

// Shows the tiles the filter and search let through, in the sort's order.
function render() {
  const search = document.getElementById('search').value.trim().toLowerCase();
  const state = document.getElementById('state-filter').value;
  const sorted = cameras.slice().sort(compare);
  const nextOrder = sorted.map((c) => c.id).join('\n');
  const wall = document.getElementById('wall');
  if (nextOrder !== order) { // re-appending 1,000 tiles every 2 s would cost layout
    wall.append(...sorted.map((c) => tiles.get(c.id).tile));
    order = nextOrder;
  }
  for (const camera of sorted) {
    const shown = (!state || camera.state === state) &&
      (!search || camera.id.toLowerCase().includes(search));
    const entry = tiles.get(camera.id);
    if (entry.tile.hidden === shown) entry.tile.hidden = !shown;
  }
  for (const button of document.querySelectorAll('#counts button'))
    button.classList.toggle('active', button.dataset.state === state);
}

function updateCounts() {
  const counts = Object.fromEntries(STATES.map((s) => [s, 0]));
  for (const camera of cameras) counts[camera.state]++;
  document.getElementById('summary').textContent =
    counts.streaming + ' of ' + cameras.length + ' cameras streaming';
  const bar = document.getElementById('counts');
  if (!bar.children.length) {
    for (const state of STATES) {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = state;
      button.dataset.state = state;
      button.addEventListener('click', () => {
        const filter = document.getElementById('state-filter');
        filter.value = filter.value === state ? '' : state;
        render();
      });
      bar.append(button);
    }
  }
  for (const button of bar.children)
    button.textContent = button.dataset.state + ' ' + counts[button.dataset.state];
}

function updateTiles(list) {
  cameras = list.map((camera, index) => Object.assign(camera, { index }));
  const ids = new Set(cameras.map((c) => c.id));
  for (const [id, entry] of tiles) if (!ids.has(id)) removeTile(id, entry);
  for (const camera of cameras) {
    let entry = tiles.get(camera.id);
    if (!entry) {
      entry = makeTile(camera);
      tiles.set(camera.id, entry);
    }
    entry.camera = camera;
    entry.hasFrame = camera.last_frame_age_ms !== null;
    const className = 'tile state-' + camera.state;
    if (entry.tile.className !== className) {
      entry.tile.className = className;
      entry.tile.querySelector('.state').textContent = camera.state;
    }
    entry.tile.querySelector('.age').textContent = formatAge(camera.last_frame_age_ms);
  }
  updateCounts();
  render();
  if (fullId !== null) showStatus(fullId);
  if (!document.body.dataset.readyMs) // for tests: when the first list was shown
    document.body.dataset.readyMs = Math.round(performance.now());
  wakePump(Date.now()); // new tiles or first frames may be due now
}

function refreshStatus() {
  request('api/cameras')
    .then((response) => response.json())
    .then(updateTiles)
    .catch(() => {})
    .finally(() => setTimeout(refreshStatus, STATUS_INTERVAL_MS));
}

// Replaces @img's picture with the camera's newest frame, or with its
// thumbnail where @width is given.
function loadFrame(id, img, previousUrl, width) {
  return request(cameraPath(id) + '/frame.jpg' + (width ? '?width=' + width : ''))
    .then((response) => (response.ok ? response.blob() : null))
    .then((blob) => {
      if (!blob) return previousUrl;
      const url = URL.createObjectURL(blob);
      img.src = url;
      if (previousUrl) URL.revokeObjectURL(previousUrl);
      return url;
    });
}

// Runs pumpThumbnails at time @at (Date.now() ms) unless it runs sooner.
function wakePump(at) {
  if (pumpTimer !== null && pumpAt <= at) return;
  clearTimeout(pumpTimer);
  pumpAt = at;
  pumpTimer = setTimeout(pumpThumbnails, Math.max(0, at - Date.now()));
}

// Refreshes the stalest thumbnails on screen, a few requests at a time, then
// sleeps until the next one is due; a finished request, a scroll or new
// tiles wake it sooner. Tiles off screen (or filtered out) fetch nothing.
function pumpThumbnails() {
  pumpTimer = null;
  const now = Date.now();
  let nextDue = Infinity;
  for (const id of visible) {
    const entry = tiles.get(id);
    if (!entry || entry.tile.hidden || !entry.hasFrame || entry.loading) continue;
    if (entry.nextRefresh > now) {
      nextDue = Math.min(nextDue, entry.nextRefresh);
      continue;
    }
    if (inFlight >= MAX_IN_FLIGHT) continue;
    entry.loading = true;
    inFlight++;
    loadFrame(id, entry.img, entry.url, THUMB_WIDTH)
      .then((url) => { entry.url = url; })
      .catch(() => {})
      .finally(() => {
        entry.loading = false;
        entry.nextRefresh = Date.now() + THUMB_INTERVAL_MS;
        inFlight--;
        wakePump(Date.now()); // tiles due now may have waited for this slot
      });
  }
  if (nextDue !== Infinity) wakePump(nextDue);
}

// The detail view's status fields.
function showStatus(id) {
  const entry = tiles.get(id);
  const list = document.getElementById('full-status');
  if (!entry) {
    list.textContent = 'removed';
    return;
  }
  const c = entry.camera;
  const fields = [
    ['state', c.state], ['frames', c.frames], ['fps', c.fps],
    ['last frame', formatAge(c.last_frame_age_ms)],
    ['size', c.width && c.height ? c.width + '×' + c.height : '—'],
    ['codec', c.codec || '—'], ['decoder', c.decoder], ['gpu', c.gpu < 0 ? '—' : c.gpu],
    ['reconnects', c.reconnects], ['last error', c.last_error || '—'],
  ];
  list.replaceChildren(...fields.flatMap(([name, value]) => {
    const dt = document.createElement('dt');
    dt.textContent = name;
    const dd = document.createElement('dd');
    dd.textContent = String(value);
    dd.dataset.field = name;
    return [dt, dd];
  }));
}

function openFull(id) {
  fullId = id;
  document.getElementById('full-title').textContent = id;
  document.getElementById('full').hidden = false;
  showStatus(id);
  let url = null;
  const img = document.getElementById('full-image');
  const step = () => {
    if (fullId !== id) {
      if (url) URL.revokeObjectURL(url);
      return;
    }
    loadFrame(id, img, url)
      .then((next) => { url = next; })
      .catch(() => {})
      .finally(() => setTimeout(step, FULL_INTERVAL_MS));
  };
  step();
}

function closeFull() {
  fullId = null;
  document.getElementById('full').hidden = true;
  document.getElementById('full-image').removeAttribute('src');
}

function init() {
  takeTokenFromHash();
  document.getElementById('full-close').addEventListener('click', closeFull);
  document.addEventListener('keydown', (event) => { if (event.key === 'Escape') closeFull(); });
  document.getElementById('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    token = document.getElementById('token').value;
    sessionStorage.setItem('gpurtsp-token', token);
    document.getElementById('token-form').hidden = true;
  });
  for (const id of ['search', 'state-filter', 'sort'])
    document.getElementById(id).addEventListener('input', () => { render(); wakePump(Date.now()); });
  refreshStatus();
}

init();
