/**
 * The baseline for read benchmarks: a bare node:http server answering every request
 * with the same pre-serialised bytes (env BODY) and the headers a FHIR read carries.
 */
import { createServer } from 'node:http';

const body = Buffer.from(process.env.BODY ?? '{}');
const port = Number(process.argv[2] ?? 0);
createServer((_req, res) => {
  res.writeHead(200, { 'Content-Type': 'application/fhir+json; fhirVersion=4.0; charset=utf-8', ETag: 'W/"1"', 'Content-Length': body.length });
  res.end(body);
}).listen(port, '127.0.0.1');
