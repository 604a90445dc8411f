// End-to-end test of the demo site in headless Chromium (Debian's package),
// driven by playwright-core: open the start page, follow its links, upload two
// files through the upload form, see them in the listing, submit the CGI form;
// then the same demo over HTTPS, where Chromium must have negotiated HTTP/2
// (ALPN h2) for every page, resource, upload and form it sent; and the demo's
// application behind the proxy (a WebSocket echo page, over HTTP and HTTPS)
// and its PHP page through PHP-FPM, both started as make run starts them
// (scripts/demo-upstreams.sh).
// Screenshots go to <build>/test-artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const src = process.env.WEBSERV_SRC ?? path.resolve(import.meta.dirname, '../..');
const build = process.env.WEBSERV_BUILD ?? path.join(src, 'build');
const bin = process.env.WEBSERV_BIN ?? path.join(build, 'webserv');
const artifacts = path.join(build, 'test-artifacts');

let server, browser, base, tlsBase, tmp, demo, stderr = '';

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
    s.on('error', reject);
  });
}

async function waitForPort(port, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise((res) => {
      const c = net.connect(port, '127.0.0.1', () => { c.end(); res(true); });
      c.on('error', () => res(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`webserv did not listen on ${port}: ${stderr}`);
}

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'webserv-browser-'));
  fs.cpSync(path.join(src, 'www'), path.join(tmp, 'www'), { recursive: true });
  // The demo config, on a free port, serving a copy of the demo site.
  const cfg = JSON.parse(fs.readFileSync(path.join(src, 'conf/server.json'), 'utf8'));
  const port = await freePort();
  const tlsPort = await freePort();
  cfg.modules_dir = path.join(build, 'modules');
  cfg.access_log = 'off';
  const s = cfg.servers[0];
  // The demo's HTTPS certificate is made by make run; this test makes its own.
  const crt = path.join(tmp, 'demo.crt'), key = path.join(tmp, 'demo.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-days', '2', '-keyout', key, '-out', crt, '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
  // TLS protocols left to their default: h2 and http/1.1 (SPEC §6).
  s.listen = [`127.0.0.1:${port}`, { address: `127.0.0.1:${tlsPort}`, tls: true }];
  s.tls = { certificate: crt, key };
  s.root = path.join(tmp, 'www');
  s.error_pages = { 404: path.join(tmp, 'www/errors/404.html') };
  for (const loc of s.locations) // the config is copied away from conf/: its user file by absolute path
    if (loc.auth_basic) loc.auth_basic.user_file = path.join(src, 'conf', loc.auth_basic.user_file);
  // The application and the PHP-FPM pool, in this test's folder.
  demo = path.join(tmp, 'demo');
  execFileSync(path.join(src, 'scripts/demo-upstreams.sh'), ['start', demo], { stdio: 'ignore' });
  cfg.upstreams.demo_app.servers[0].address = 'unix:' + path.join(demo, 'app.sock');
  cfg.upstreams.php.servers[0].address = 'unix:' + path.join(demo, 'php-fpm.sock');
  fs.writeFileSync(path.join(tmp, 'server.json'), JSON.stringify(cfg));
  server = spawn(bin, [path.join(tmp, 'server.json')], { stdio: ['ignore', 'ignore', 'pipe'] });
  server.stderr.on('data', (d) => { stderr += d; });
  await waitForPort(port, 10000);
  await waitForPort(tlsPort, 10000);
  base = `http://127.0.0.1:${port}`;
  tlsBase = `https://127.0.0.1:${tlsPort}`;
  fs.mkdirSync(artifacts, { recursive: true });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  if (server) {
    const done = new Promise((r) => server.on('exit', (code) => r(code)));
    server.kill('SIGTERM');
    assert.equal(await done, 0, `webserv did not stop cleanly: ${stderr}`);
  }
  if (demo) execFileSync(path.join(src, 'scripts/demo-upstreams.sh'), ['stop', demo], { stdio: 'ignore' });
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function shot(page, name) {
  await page.screenshot({ path: path.join(artifacts, `demo-${name}.png`), fullPage: true });
}

test('start page and its links', async () => {
  const page = await browser.newPage();
  const res = await page.goto(base + '/');
  assert.equal(res.status(), 200);
  assert.equal(await page.textContent('h1'), 'webserv is running');
  // mod_compress (issue 14): the browser asked with Accept-Encoding, the page came
  // coded and Chromium decoded it (the h1 above); caches are told it varies.
  const sent = await res.request().allHeaders();
  assert.match(sent['accept-encoding'] ?? '', /gzip/);
  assert.ok(['zstd', 'br', 'gzip'].includes(res.headers()['content-encoding']),
    `content-encoding: ${res.headers()['content-encoding']}`);
  assert.match(res.headers()['vary'] ?? '', /Accept-Encoding/);
  await shot(page, '1-index');
  await page.click('text=A folder listing');
  await page.waitForURL(base + '/docs/');
  assert.match(await page.content(), /notes\.md/);
  await shot(page, '2-listing');
  await page.goto(base + '/');
  await page.click('text=A redirect');
  await page.waitForURL(base + '/');
  await page.goto(base + '/no-such-page');
  assert.match(await page.textContent('h1'), /404/);
  await page.close();
});

test('upload two files with the form, then see them listed', async () => {
  const page = await browser.newPage();
  await page.goto(base + '/');
  await page.click('text=Upload files');
  await page.waitForURL(base + '/upload.html');
  await page.setInputFiles('input[type=file]', [
    { name: 'first.txt', mimeType: 'text/plain', buffer: Buffer.from('one\n') },
    { name: 'second file.csv', mimeType: 'text/csv', buffer: Buffer.from('a,b\n1,2\n') },
  ]);
  await shot(page, '3-upload-form');
  const [res] = await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  assert.equal(res.status(), 201);
  const created = await page.content();
  assert.match(created, /first\.txt/);
  assert.match(created, /second file\.csv/);
  await shot(page, '4-uploaded');
  await page.goto(base + '/uploads/');
  const listing = await page.content();
  assert.match(listing, /first\.txt/);
  assert.match(listing, /second file\.csv/);
  await shot(page, '5-uploads-listing');
  const file = await page.request.get(base + '/uploads/second%20file.csv');
  assert.equal(file.status(), 200);
  assert.equal(await file.text(), 'a,b\n1,2\n');
  await page.close();
});

test('the CGI form greets by GET and by POST', async () => {
  const page = await browser.newPage();
  await page.goto(base + '/');
  await page.click('text=A CGI form that greets you');
  await page.waitForURL(base + '/cgi-bin/hello.py');
  await page.fill('form[method=post] input[name=name]', 'Ada');
  await Promise.all([page.waitForNavigation(), page.click('form[method=post] button')]);
  assert.match(await page.textContent('.greeting'), /Hello, Ada! \(sent by POST\)/);
  await shot(page, '6-cgi-post');
  await page.fill('form[method=get] input[name=name]', 'Grace <b>');
  await Promise.all([page.waitForNavigation(), page.click('form[method=get] button')]);
  assert.match(await page.textContent('.greeting'), /Hello, Grace <b>! \(sent by GET\)/);
  await shot(page, '7-cgi-get');
  await page.close();
});

test('the password-protected folder asks, refuses, then lets the demo user in', async () => {
  // What the browser sees before its prompt: 401 with the Basic challenge.
  const page = await browser.newPage();
  const refused = await page.request.get(base + '/members/');
  assert.equal(refused.status(), 401);
  assert.match(refused.headers()['www-authenticate'], /^Basic realm="webserv demo \(demo \/ demo\)", charset="UTF-8"$/);
  const wrong = await page.request.get(base + '/members/', {
    headers: { Authorization: 'Basic ' + Buffer.from('demo:nope').toString('base64') },
  });
  assert.equal(wrong.status(), 401);
  await page.close();
  // The password prompt, answered with the given credentials.
  const ctx = await browser.newContext({ httpCredentials: { username: 'demo', password: 'demo' } });
  const p2 = await ctx.newPage();
  await p2.goto(base + '/');
  await p2.click('text=A password-protected folder');
  await p2.waitForURL(base + '/members/');
  assert.equal(await p2.textContent('h1'), 'Members only');
  await shot(p2, '8-members');
  const home = await p2.goto(base + '/home');
  assert.equal(home.status(), 200);
  assert.equal(home.headers()['x-content-type-options'], 'nosniff');
  assert.equal(await p2.textContent('h1'), 'webserv is running');
  await ctx.close();
});

// What the page itself says it was fetched with (Resource Timing's
// nextHopProtocol, the ALPN id): the document and every resource it loaded.
async function protocols(page) {
  return page.evaluate(() => performance.getEntries()
    .filter((e) => e.nextHopProtocol !== undefined)
    .map((e) => `${e.nextHopProtocol} ${e.name}`));
}

async function assertH2(page) {
  const seen = await protocols(page);
  assert.ok(seen.length >= 1, 'no navigation entry');
  for (const p of seen) assert.match(p, /^h2 /, `not fetched over HTTP/2: ${p} (all: ${seen.join(', ')})`);
}

test('the demo over HTTPS: Chromium negotiates HTTP/2 for pages, the upload form and the CGI form', async () => {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true }); // the test's own self-signed certificate
  const page = await ctx.newPage();
  const res = await page.goto(tlsBase + '/');
  assert.equal(res.status(), 200);
  assert.equal(await page.textContent('h1'), 'webserv is running');
  await assertH2(page);
  await shot(page, 'h2-1-index');
  await page.click('text=A folder listing');
  await page.waitForURL(tlsBase + '/docs/');
  assert.match(await page.content(), /notes\.md/);
  await assertH2(page);
  // A request body from the browser over HTTP/2: the multipart upload form.
  await page.goto(tlsBase + '/upload.html');
  await page.setInputFiles('input[type=file]', [
    { name: 'over-h2.txt', mimeType: 'text/plain', buffer: Buffer.from('sent in DATA frames\n') },
  ]);
  const [up] = await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  assert.equal(up.status(), 201);
  assert.match(await page.content(), /over-h2\.txt/);
  await assertH2(page);
  const file = await page.request.get(tlsBase + '/uploads/over-h2.txt');
  assert.equal(await file.text(), 'sent in DATA frames\n');
  // The CGI form by POST.
  await page.goto(tlsBase + '/cgi-bin/hello.py');
  await page.fill('form[method=post] input[name=name]', 'Ada');
  await Promise.all([page.waitForNavigation(), page.click('form[method=post] button')]);
  assert.match(await page.textContent('.greeting'), /Hello, Ada! \(sent by POST\)/);
  await assertH2(page);
  await shot(page, 'h2-2-cgi-post');
  await ctx.close();
});

// The application page: its API answer (through the proxy, which says how the
// client came in), then a message echoed over a WebSocket the proxy tunnels.
async function echoThroughTheProxy(page, proto, shotName) {
  await page.waitForFunction(() => document.getElementById('status').textContent === 'open');
  await page.waitForFunction(() => !document.getElementById('api').textContent.startsWith('asking'));
  const api = await page.textContent('#api');
  assert.match(api, /^Hello from the demo application \(process \d+, X-Forwarded-Proto: (\w+)\)$/);
  assert.equal(api.match(/X-Forwarded-Proto: (\w+)/)[1], proto);
  await page.fill('#message', `echo me over ${proto}`);
  await page.click('#send');
  await page.waitForSelector('#echoes li');
  assert.deepEqual(await page.$$eval('#echoes li', (lis) => lis.map((li) => li.textContent)), [`echo me over ${proto}`]);
  await shot(page, shotName);
}

test('the application behind the proxy: its page, its API and a WebSocket echo, over HTTP and HTTPS', async () => {
  const page = await browser.newPage();
  await page.goto(base + '/');
  await page.click('text=An application behind the proxy');
  await page.waitForURL(base + '/app/');
  await echoThroughTheProxy(page, 'http', '9-app-websocket');
  await page.close();
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true });
  const secure = await ctx.newPage();
  const res = await secure.goto(tlsBase + '/app/');
  assert.equal(res.status(), 200);
  await assertH2(secure); // the page over HTTP/2; the WebSocket (wss) on a connection of its own
  await echoThroughTheProxy(secure, 'https', 'h2-3-app-websocket');
  await ctx.close();
});

test('the PHP page through PHP-FPM greets by name', async () => {
  const page = await browser.newPage();
  await page.goto(base + '/');
  await page.click('text=A PHP page');
  await page.waitForURL(base + '/php/');
  assert.match(await page.textContent('h1'), /^Hello from PHP \d+\.\d+/);
  await page.fill('input[name=name]', 'Ada <i>');
  await Promise.all([page.waitForNavigation(), page.click('form button')]);
  assert.equal(await page.textContent('#greeting'), 'Hello, Ada <i>!');
  await shot(page, '10-php');
  await page.close();
});
