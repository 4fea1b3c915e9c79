// Starts telegram-test-api (the peer of the Bot API benchmark, bench/src/bin/botapi.rs) with its
// defaults (RAM storage, storeTimeout 60 s) on 127.0.0.1 and a free port, prints
// `telegram-test-api listening on http://127.0.0.1:<port>` and serves until SIGTERM or SIGINT.
//
// telegram-test-api reads `port || 9000`, so it cannot be asked for port 0: a free port is found
// here first. `node serve.js --port N` uses N instead.
'use strict';

const net = require('net');
const TelegramServer = require('telegram-test-api');

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

async function main() {
  const i = process.argv.indexOf('--port');
  const port = i >= 0 ? Number(process.argv[i + 1]) : await freePort();
  const server = new TelegramServer({ port, host: '127.0.0.1' });
  await server.start();
  console.log(`telegram-test-api listening on http://127.0.0.1:${port}`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    // Open keep-alive connections could hold the shutdown; the benchmark has finished with them.
    setTimeout(() => process.exit(0), 2000).unref();
    await server.stop();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
