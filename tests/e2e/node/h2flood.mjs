// h2flood.mjs - HTTP/2 connections to ementord that each ask for calendar
// feeds all at once (node:http2 only, no packages). Prints the server's
// SETTINGS_MAX_CONCURRENT_STREAMS and how the requests were answered, as one
// JSON line: {"maxConcurrentStreams": 8, "answers": {"404": 300}}
// Usage: node h2flood.mjs PORT CA_FILE CONNECTIONS REQUESTS_EACH [LOCAL_ADDRESS]
import http2 from 'node:http2';
import { readFileSync } from 'node:fs';

const [port, caFile, connections, each, localAddress] = process.argv.slice(2);
const opts = { ca: readFileSync(caFile), servername: 'localhost' };
if (localAddress) opts.localAddress = localAddress;
const token = 'A'.repeat(43); // well-formed but unknown: 404 after a database lookup
const answers = {};
const count = (k) => (answers[k] = (answers[k] || 0) + 1);
let maxStreams;

async function flood() {
  const session = http2.connect(`https://127.0.0.1:${port}`, opts);
  session.on('error', (e) => count(`session:${e.code || e.message}`));
  const settings = await new Promise((resolve) => {
    session.once('remoteSettings', resolve);
    session.once('close', () => resolve({}));
  });
  maxStreams = settings.maxConcurrentStreams;
  await Promise.all(
    Array.from({ length: Number(each) }, () => new Promise((resolve) => {
      const req = session.request({ ':path': `/calendar/${token}.ics` });
      req.on('response', (h) => count(String(h[':status'])));
      req.on('error', (e) => count(`stream:${e.code || e.message}`));
      req.on('close', resolve);
      req.resume();
      req.end();
    })),
  );
  session.close();
}

await Promise.all(Array.from({ length: Number(connections) }, flood));
console.log(JSON.stringify({ maxConcurrentStreams: maxStreams, answers }));
