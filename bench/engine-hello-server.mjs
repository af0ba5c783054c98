// The floor for the engine's HTTP benchmark: a bare Fastify hello-world over HTTPS with the
// engine's own certificate, run as its own process exactly like the engine.
// Reads {certPem, keyPem, port} as JSON on stdin (the key never goes on a command line).
import https from 'node:https';
import Fastify from 'fastify';

let input = '';
for await (const chunk of process.stdin) input += chunk;
const { certPem, keyPem } = JSON.parse(input);
const app = Fastify({
  logger: false,
  serverFactory: (handler) => https.createServer({ cert: certPem, key: keyPem }, handler),
});
app.get('/hello', async () => ({ hello: 'world' }));
await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`listening ${app.server.address().port}\n`);
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
