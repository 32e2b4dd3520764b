// rawframe.mjs - a WebSocket peer written on a bare TLS socket (node:tls, no
// WebSocket library), so that it can send what libraries refuse to: a client
// frame without a mask (RFC 6455 section 5.1: the server must close with
// 1002). It logs in to nothing; it sends `ping` requests, which need no login.
// Prints one JSON line:
//   {"masked": "reply", "unmasked": "reply" | "close 1002 <reason>" | "closed" | "nothing",
//    "binary": "close 1003 <reason>"}
// Usage: node rawframe.mjs PORT CA_FILE
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

const [port, caFile] = process.argv.slice(2);

/** A client text (or binary) frame, FIN set, with or without a masking key. */
function textFrame(text, masked, opcode = 1) {
  const payload = Buffer.from(text, 'utf8');
  if (payload.length > 125) throw new Error('short frames only');
  const head = Buffer.from([0x80 | opcode, (masked ? 0x80 : 0) | payload.length]);
  if (!masked) return Buffer.concat([head, payload]);
  const key = randomBytes(4);
  const body = Buffer.from(payload.map((b, i) => b ^ key[i % 4]));
  return Buffer.concat([head, key, body]);
}

const sock = tls.connect({ host: '127.0.0.1', port: Number(port), ca: readFileSync(caFile), servername: 'localhost' });
let buf = Buffer.alloc(0);
let upgraded = false;
const events = []; // {kind: 'text', text} | {kind: 'close', code, reason} | {kind: 'end'}
let wake = () => {};

sock.on('data', (d) => {
  buf = Buffer.concat([buf, d]);
  if (!upgraded) {
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = buf.subarray(0, end).toString('latin1');
    if (!/^HTTP\/1\.1 101/.test(head)) {
      console.log(JSON.stringify({ error: `handshake refused: ${head.split('\r\n')[0]}` }));
      process.exit(1);
    }
    upgraded = true;
    buf = buf.subarray(end + 4);
  }
  // server frames: unmasked, short or 16-bit lengths are enough here
  for (;;) {
    if (buf.length < 2) break;
    const op = buf[0] & 0x0f;
    let len = buf[1] & 0x7f;
    let off = 2;
    if (len === 126) {
      if (buf.length < 4) break;
      len = buf.readUInt16BE(2);
      off = 4;
    }
    if (buf.length < off + len) break;
    const payload = buf.subarray(off, off + len);
    buf = buf.subarray(off + len);
    if (op === 1) events.push({ kind: 'text', text: payload.toString('utf8') });
    if (op === 8) {
      events.push({ kind: 'close', code: len >= 2 ? payload.readUInt16BE(0) : null,
        reason: payload.subarray(2).toString('utf8') });
    }
  }
  wake();
});
sock.on('end', () => { events.push({ kind: 'end' }); wake(); });
sock.on('close', () => { events.push({ kind: 'end' }); wake(); });
sock.on('error', () => { events.push({ kind: 'end' }); wake(); });

/** The next event, or null after ms. */
function next(ms) {
  return new Promise((resolve) => {
    const take = () => {
      if (events.length) {
        clearTimeout(timer);
        wake = () => {};
        resolve(events.shift());
        return true;
      }
      return false;
    };
    const timer = setTimeout(() => {
      wake = () => {};
      resolve(null);
    }, ms);
    if (!take()) wake = take;
  });
}

function describe(ev) {
  if (!ev) return 'nothing';
  if (ev.kind === 'text') return 'reply';
  if (ev.kind === 'close') return `close ${ev.code} ${ev.reason}`.trim();
  return 'closed';
}

await new Promise((resolve) => sock.once('secureConnect', resolve));
sock.write([
  'GET / HTTP/1.1',
  'Host: localhost',
  'Upgrade: websocket',
  'Connection: Upgrade',
  `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
  'Sec-WebSocket-Version: 13',
  'Sec-WebSocket-Protocol: ementor.v1',
  '', ''].join('\r\n'));
while (!upgraded) {
  if (!(await next(5000)) && !upgraded) {
    console.log(JSON.stringify({ error: 'no handshake answer' }));
    process.exit(1);
  }
}
const result = {};
sock.write(textFrame('{"id":1,"op":"ping"}', true));
result.masked = describe(await next(5000));
sock.write(textFrame('{"id":2,"op":"ping"}', false));
result.unmasked = describe(await next(5000));
// last, and only to show this peer sees a close when there is one: binary is refused (1003)
sock.write(textFrame('{"id":3,"op":"ping"}', true, 2));
result.binary = describe(await next(5000));
console.log(JSON.stringify(result));
sock.destroy();
