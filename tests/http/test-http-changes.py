#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Cameras changed while gpurtsp-launch runs: PUT, PATCH and DELETE
/api/cameras/{id}, the overlay file, SIGHUP and --watch-config reloads.

  test-http-changes.py LAUNCHER LOADGEN

Cameras stream from gpurtsp-loadgen (320x240, software decoding), so an
unchanged camera can be seen to keep counting frames across a change.
"""
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

from launcher_process import LauncherProcess

TOKEN = 'test-token-123'
PASSWORD = 'S3cret-Pa55-9921'
SERVER_CAMERAS = 8


class Loadgen:
    def __init__(self, path):
        self.process = subprocess.Popen(
            [path, '--cameras', str(SERVER_CAMERAS), '--width', '320', '--height', '240',
             '--fps', '10', '--gop', '10', '--clip-seconds', '2', '--port', '0'],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in self.process.stdout:
            match = re.search(r'URL pattern (rtsp://[^/]+)/cam', line)
            if match:
                self.base = match.group(1)
                break
        else:
            raise AssertionError('gpurtsp-loadgen printed no URL pattern')
        threading.Thread(target=self.process.stdout.read, daemon=True).start()

    def url(self, index):
        return '%s/cam%d' % (self.base, index)

    def stop(self):
        self.process.terminate()
        self.process.wait(20)


class Launcher(LauncherProcess):
    """gpurtsp-launch --config PATH."""

    def __init__(self, path, config, *extra, churn=False):
        env = dict(os.environ, CAM_PASSWORD=PASSWORD)
        if churn:
            # rtspsrc (1.22) posts a CRITICAL (gst_event_set_seqnum with
            # GST_SEQNUM_INVALID) from its task when torn down while it
            # connects, which replacing cameras many times a second does:
            # not fatal here, and no other CRITICAL allowed (see
            # criticals()).
            env['G_DEBUG'] = ''
        super().__init__([path, '--config', config, '--start-window', '0', *extra], env=env)

    def criticals(self):
        known = "gst_event_set_seqnum: assertion 'seqnum != GST_SEQNUM_INVALID' failed"
        return [line for line in self.log if 'CRITICAL' in line and known not in line]

    def request(self, method, path, body=None, token=TOKEN, headers=None):
        connection = http.client.HTTPConnection('127.0.0.1', self.port, timeout=30)
        all_headers = dict(headers or {})
        if token:
            all_headers['Authorization'] = 'Bearer ' + token
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()
        data = response.read()
        connection.close()
        parsed = None
        if response.getheader('Content-Type') == 'application/json' and data:
            parsed = json.loads(data)
        return response.status, parsed, data

    def cameras(self):
        status, cameras, _ = self.request('GET', '/api/cameras')
        assert status == 200
        return {c['id']: c for c in cameras}

    def wait(self, predicate, what, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            cameras = self.cameras()
            if predicate(cameras):
                return cameras
            time.sleep(0.3)
        raise AssertionError('%s: not within %d s: %s\n%s' % (what, timeout, cameras, self.text()))

    def wait_streaming(self, ids, timeout=60):
        def failed(cams):
            broken = [c for c in cams.values() if c['state'] == 'failed']
            assert not broken, 'failed cameras: %s\n%s' % (broken, self.text())
            return False

        return self.wait(lambda cams: failed(cams) or all(i in cams and cams[i]['state'] == 'streaming'
                                          and cams[i]['frames'] > 0 for i in ids),
                         'streaming %s' % ids, timeout)

    def wait_log(self, pattern, start=0, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log[start:]:
                if re.search(pattern, line):
                    return line
            time.sleep(0.1)
        raise AssertionError('no log line matching %r:\n%s' % (pattern, self.text()))



def write(path, text):
    with open(path, 'w') as f:
        f.write(text)


def config_text(loadgen, cameras, token=True, extra=''):
    lines = ['# the site cameras: this comment must survive API changes',
             'defaults:', '  decoder: software', '  fps: 5']
    if token:
        lines += ['http:', '  token: ' + TOKEN]
    lines += ['cameras:']
    for camera_id, index in cameras:
        lines += ['  - id: %s' % camera_id, '    url: %s' % loadgen.url(index)]
    return '\n'.join(lines) + '\n' + extra


def expect(result, status, error=None, key=None):
    got_status, body, raw = result
    assert got_status == status, (got_status, status, raw)
    if error is not None:
        assert body['error'] == error, (body, error)
    if key is not None:
        assert body.get('key') == key, (body, key)
    return body


def test_routes(launcher_path, loadgen, directory):
    config = os.path.join(directory, 'cameras.yaml')
    overlay = os.path.join(directory, 'cameras.overlay.yaml')
    original = config_text(loadgen, [('lobby', 0), ('door', 1)])
    write(config, original)
    launcher = Launcher(launcher_path, config)
    try:
        launcher.wait_streaming(['lobby', 'door'])
        lobby_before = launcher.cameras()['lobby']

        # Authentication: every change needs the token.
        expect(launcher.request('PUT', '/api/cameras/x', {'url': loadgen.url(2)}, token=None),
               401, 'missing bearer token')
        expect(launcher.request('DELETE', '/api/cameras/door', token='wrong'), 401,
               'invalid token')

        # Bad input: 400 naming the key, nothing changes.
        bad = [
            ({'url': 'http://example.com/x'}, 'url', 'unsupported scheme'),
            ({'url': 'rtsp://'}, 'url', None),
            ({'url': loadgen.url(2), 'fps': 500}, 'fps', '500 is out of range (0 to 120)'),
            ({'url': loadgen.url(2), 'fps': 'fast'}, 'fps', 'expected an integer'),
            ({'url': loadgen.url(2), 'thumbnail_width': 8}, 'thumbnail_width',
             '8 is out of range (0, or 16 to 1920)'),
            ({'url': loadgen.url(2), 'latency': 5}, 'latency', 'unknown key (did you mean'),
            ({'url': loadgen.url(2), 'decoder': 'gpu'}, 'decoder', 'unknown value "gpu"'),
            ({'url': loadgen.url(2), 'id': 'other'}, 'id', 'is not the id in the URL'),
            ({'url': loadgen.url(2), 'fps': {'a': 1}}, 'fps', 'expected an integer'),
            ({'url': '${NO_SUCH_VARIABLE_HERE}'}, 'url', 'NO_SUCH_VARIABLE_HERE'),
            ({'fps': 5}, '', 'missing key "url"'),
            ([1, 2], '', 'expected a JSON object'),
            ('{"url": ', '', 'syntax error'),
            ('', '', 'expected a JSON object'),
        ]
        for body, key, reason in bad:
            status, answer, raw = launcher.request('PUT', '/api/cameras/new1', body)
            assert status == 400, (body, status, raw)
            assert answer.get('key', '') == key, (body, answer)
            if reason:
                assert reason in answer['error'], (body, answer)
                assert answer['error'] == (key + ': ' if key else '') + answer['reason'], answer
        expect(launcher.request('PUT', '/api/cameras/bad%20id', {'url': loadgen.url(2)}), 400,
               'invalid camera id (expected 1 to 64 of A-Z a-z 0-9 _ -)')
        expect(launcher.request('PATCH', '/api/cameras/nope', {'fps': 2}), 404, 'unknown camera')
        expect(launcher.request('DELETE', '/api/cameras/nope'), 404, 'unknown camera')
        expect(launcher.request('POST', '/api/cameras/door'), 405, 'method not allowed')
        expect(launcher.request('POST', '/api/cameras/door', {'fps': 2}), 413,
               'request body not accepted')
        expect(launcher.request('PUT', '/api/cameras/door/frame.jpg', {'fps': 2}), 413,
               'request body not accepted')
        expect(launcher.request('PUT', '/api/cameras/big', 'x' * 70000), 413,
               'request body too large')
        assert sorted(launcher.cameras()) == ['door', 'lobby']
        assert not os.path.exists(overlay), 'a refused change wrote the overlay'

        # A credential in a submitted URL is never echoed, logged or shown.
        url = loadgen.url(2).replace('rtsp://', 'rtsp://viewer:%s@' % PASSWORD)
        bad_url = 'rtsp://viewer:%s@127.0.0.1:99999/x' % PASSWORD
        status, answer, raw = launcher.request('PUT', '/api/cameras/gate', {'url': bad_url})
        assert status == 400 and PASSWORD.encode() not in raw, raw

        # Created: 201 and the camera; then it streams.
        body = expect(launcher.request('PUT', '/api/cameras/gate', {'url': url, 'fps': 2}), 201)
        assert body['id'] == 'gate' and body['state'] == 'connecting', body
        assert PASSWORD.encode() not in json.dumps(body).encode()
        # ${VAR} may stand for the secret; kept as written in the overlay.
        body = expect(launcher.request(
            'PUT', '/api/cameras/yard',
            {'url': loadgen.url(3).replace('rtsp://', 'rtsp://viewer:${CAM_PASSWORD}@')}), 201)
        launcher.wait_streaming(['gate', 'yard'])
        with open(overlay) as f:
            saved = f.read()
        assert '${CAM_PASSWORD}' in saved, saved
        assert os.stat(overlay).st_mode & 0o077 == 0, oct(os.stat(overlay).st_mode)
        with open(config) as f:
            assert f.read() == original, 'the config file itself was changed'

        # Replaced: 200; PATCH keeps the other keys.
        body = expect(launcher.request('PUT', '/api/cameras/gate', {'url': loadgen.url(4)}), 200)
        assert body['frames'] == 0, body
        expect(launcher.request('PATCH', '/api/cameras/yard', {'fps': 1}), 200)
        expect(launcher.request('PATCH', '/api/cameras/yard', {'fps': -1}), 400, None, 'fps')
        launcher.wait_streaming(['gate', 'yard'])
        with open(overlay) as f:
            saved = f.read()
        assert re.search(r'id: "yard", url: "rtsp://viewer:\$\{CAM_PASSWORD\}@[^"]+", fps: "1"',
                         saved), saved
        # A camera of the config changed through the API.
        expect(launcher.request('PATCH', '/api/cameras/door', {'fps': 2}), 200)

        # The same settings written otherwise: no restart, but the overlay
        # keeps what was written, also when a later change rewrites it.
        gate_frames = launcher.cameras()['gate']['frames']
        body = expect(launcher.request('PATCH', '/api/cameras/gate', {'jpeg_quality': 85}), 200)
        assert body['frames'] >= gate_frames > 0, (body, gate_frames)

        # Deleted: 204, gone from the API and metrics.
        status, _, raw = launcher.request('DELETE', '/api/cameras/lobby')
        assert status == 204 and raw == b'', (status, raw)
        expect(launcher.request('GET', '/api/cameras/lobby'), 404, 'unknown camera')
        status, _, metrics = launcher.request('GET', '/metrics')
        assert b'camera="lobby"' not in metrics and b'camera="gate"' in metrics
        cameras = launcher.wait_streaming(['door', 'gate', 'yard'])
        assert sorted(cameras) == ['door', 'gate', 'yard']
        with open(overlay) as f:
            saved = f.read()
        assert re.search(r'id: "gate", url: "[^"]+", jpeg_quality: "85"', saved), saved
        assert 'removed: ["lobby"]' in saved, saved
        assert PASSWORD not in launcher.text(), 'the password was logged'

        # Persisted: the same set after a restart, and after SIGKILL right
        # after a 2xx.
        code = launcher.stop()
        assert code == 0, (code, launcher.text())
        launcher = Launcher(launcher_path, config)
        assert sorted(launcher.cameras()) == ['door', 'gate', 'yard']
        expect(launcher.request('PUT', '/api/cameras/late', {'url': loadgen.url(5)}), 201)
        launcher.kill()
        launcher = Launcher(launcher_path, config)
        cameras = launcher.wait_streaming(['door', 'gate', 'yard', 'late'])
        assert list(cameras) == ['door', 'gate', 'yard', 'late'], list(cameras)
        assert PASSWORD not in launcher.text()
        with open(config) as f:
            assert f.read() == original
        assert not [name for name in os.listdir(directory) if '.overlay.yaml.' in name]
        assert lobby_before['reconnects'] == 0
    finally:
        if launcher.process.poll() is None:
            launcher.stop()
    print('ok: routes, bad inputs, overlay persistence across restart and SIGKILL')


def test_no_token(launcher_path, loadgen, directory):
    config = os.path.join(directory, 'open.yaml')
    write(config, config_text(loadgen, [('lobby', 0)], token=False))
    launcher = Launcher(launcher_path, config)
    try:
        for method in ('PUT', 'PATCH'):
            expect(launcher.request(method, '/api/cameras/lobby', {'fps': 1}, token=None), 403,
                   'changes need a token: set http.token in the config')
        expect(launcher.request('DELETE', '/api/cameras/lobby', token=None), 403)
        assert list(launcher.cameras()) == ['lobby']
        assert not os.path.exists(os.path.join(directory, 'open.overlay.yaml'))
    finally:
        code = launcher.stop()
        assert code == 0, (code, launcher.text())
    print('ok: changes refused without a token')


def test_concurrent(launcher_path, loadgen, directory):
    config = os.path.join(directory, 'busy.yaml')
    write(config, config_text(loadgen, [('base', 0)]))
    launcher = Launcher(launcher_path, config, churn=True)
    try:
        results = []

        def change(i):
            camera_id = 'c%d' % (i % 10)
            if i % 3 == 2:
                results.append(launcher.request('DELETE', '/api/cameras/' + camera_id)[0])
            else:
                results.append(launcher.request(
                    'PUT', '/api/cameras/' + camera_id,
                    {'url': loadgen.url(i % SERVER_CAMERAS), 'fps': 1 + i % 5})[0])

        threads = [threading.Thread(target=change, args=(i,)) for i in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(results) == 50 and set(results) <= {200, 201, 204, 404}, results
        api = sorted(launcher.cameras())
    finally:
        assert launcher.stop() == 0, launcher.text()
    assert not launcher.criticals(), launcher.criticals()
    # What the API showed is what a restart loads. Stopped at once, while
    # its cameras connect: rtspsrc's CRITICAL again (churn).
    launcher = Launcher(launcher_path, config, churn=True)
    try:
        assert sorted(launcher.cameras()) == api, (sorted(launcher.cameras()), api)
    finally:
        code = launcher.stop()
        assert code == 0, (code, launcher.text())
    assert not launcher.criticals(), launcher.criticals()
    print('ok: 50 concurrent PUT/DELETE: %d cameras, the same after a restart' % len(api))


def test_reload(launcher_path, loadgen, directory, watch):
    name = 'watched' if watch else 'reload'
    config = os.path.join(directory, name + '.yaml')
    write(config, config_text(loadgen, [('keep', 0), ('change', 1), ('drop', 2)]))
    launcher = Launcher(launcher_path, config, *(['--watch-config'] if watch else []))
    try:
        launcher.wait_streaming(['keep', 'change', 'drop'])
        before = launcher.cameras()

        def reload(text, expect_line):
            start = len(launcher.log)
            write(config + '.new', text)
            os.replace(config + '.new', config)  # as editors save
            if not watch:
                launcher.process.send_signal(signal.SIGHUP)
            return launcher.wait_log(expect_line, start)

        # Unchanged, changed, removed and added at once.
        text = config_text(loadgen, [('keep', 0), ('change', 3), ('added', 4)])
        reload(text, r'reload: 1 added, 1 changed, 1 removed, 1 unchanged')
        cameras = launcher.wait_streaming(['keep', 'change', 'added'])
        assert sorted(cameras) == ['added', 'change', 'keep'], cameras
        status, _, metrics = launcher.request('GET', '/metrics')
        assert b'camera="drop"' not in metrics
        time.sleep(1.5)
        keep = launcher.cameras()['keep']
        assert keep['frames'] > before['keep']['frames'], (keep, before['keep'])
        # Against the count before the reload, not 0: a first connect can
        # meet the load generator still tearing down the previous test's
        # mount and get a 503, which is a reconnect before the reload.
        assert keep['reconnects'] == before['keep']['reconnects'], (keep, before['keep'])

        # Invalid: refused whole, with file:line, the cameras as they were.
        bad = text.replace('    url: %s' % loadgen.url(4), '    url: http://nope/x')
        line = reload(bad, r'reload refused')
        line_number = bad.split('\n').index('    url: http://nope/x') + 1
        assert '%s.yaml:%d: cameras[2].url: unsupported scheme' % (name, line_number) in line, line
        assert sorted(launcher.cameras()) == ['added', 'change', 'keep']
        after = launcher.cameras()['keep']
        assert after['reconnects'] == before['keep']['reconnects'], (after, before['keep'])
        assert after['frames'] >= keep['frames'], after
        if not watch:
            # The same config again: nothing restarts.
            reload(text, r'reload: 0 added, 0 changed, 0 removed, 3 unchanged')
    finally:
        code = launcher.stop()
        assert code == 0, (code, launcher.text())
    print('ok: %s: unchanged kept streaming (frames %d -> %d, reconnects 0), changed, removed, '
          'added, invalid refused' % ('--watch-config' if watch else 'SIGHUP',
                                      before['keep']['frames'], after['frames']))


def main():
    launcher_path, loadgen_path = sys.argv[1], sys.argv[2]
    loadgen = Loadgen(loadgen_path)
    try:
        with tempfile.TemporaryDirectory(prefix='gpurtsp-changes-') as directory:
            test_routes(launcher_path, loadgen, directory)
            test_no_token(launcher_path, loadgen, directory)
            test_concurrent(launcher_path, loadgen, directory)
            test_reload(launcher_path, loadgen, directory, watch=False)
            test_reload(launcher_path, loadgen, directory, watch=True)
    finally:
        loadgen.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
