/* SPDX-License-Identifier: MIT */
// Camera wall: a tile per camera from /api/cameras, thumbnails refreshed from
// frame.jpg. Frames are fetched (not <img src>) so the bearer token can go in
// a header; the token comes from "#token=..." or the form and stays in
// sessionStorage.
'use strict';

const THUMB_INTERVAL_MS = 1000;
const STATUS_INTERVAL_MS = 2000;
const FULL_INTERVAL_MS = 200;
const MAX_IN_FLIGHT = 4;

const tiles = new Map();
let token = sessionStorage.getItem('gpurtsp-token') || '';
let inFlight = 0;
let fullId = null;
let pumpTimer = null;
let pumpAt = Infinity;

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
  document.getElementById('wall').append(tile);
  return { tile, img, nextRefresh: 0, url: null };
}

function updateTiles(cameras) {
  let streaming = 0;
  for (const camera of cameras) {
    let entry = tiles.get(camera.id);
    if (!entry) {
      entry = makeTile(camera);
      tiles.set(camera.id, entry);
    }
    entry.hasFrame = camera.last_frame_age_ms !== null;
    entry.tile.className = 'tile state-' + camera.state;
    entry.tile.querySelector('.state').textContent = camera.state;
    entry.tile.querySelector('.age').textContent = formatAge(camera.last_frame_age_ms);
    if (camera.state === 'streaming') streaming++;
  }
  document.getElementById('summary').textContent =
    streaming + ' of ' + cameras.length + ' cameras streaming';
  wakePump(Date.now()); // new tiles or first frames may be due now
}

function refreshStatus() {
  request('api/cameras')
    .then((response) => response.json())
    .then(updateTiles)
    .catch(() => {})
    .finally(() => setTimeout(refreshStatus, STATUS_INTERVAL_MS));
}

// Replaces @img's picture with the camera's newest frame.
function loadFrame(id, img, previousUrl) {
  return request(cameraPath(id) + '/frame.jpg')
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

// Refreshes the stalest thumbnails, a few requests at a time, then sleeps
// until the next one is due; a finished request or new tiles wake it sooner.
function pumpThumbnails() {
  pumpTimer = null;
  const now = Date.now();
  let nextDue = Infinity;
  for (const [id, entry] of tiles) {
    if (!entry.hasFrame || entry.loading) continue;
    if (entry.nextRefresh > now) {
      nextDue = Math.min(nextDue, entry.nextRefresh);
      continue;
    }
    if (inFlight >= MAX_IN_FLIGHT) continue;
    entry.loading = true;
    inFlight++;
    loadFrame(id, entry.img, entry.url)
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

function openFull(id) {
  fullId = id;
  document.getElementById('full-title').textContent = id;
  document.getElementById('full').hidden = false;
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
  refreshStatus();
  pumpThumbnails();
}

init();
