import express from 'express';

/**
 * The baseline of the API benchmark: a bare express 5 endpoint that parses a JSON body and
 * answers 201 with a small JSON document, and does nothing else. Run as its own process, like
 * the ledger, so both are measured the same way.
 */
const app = express();
app.use(express.json({ limit: 256 * 1024 }));
app.post('/v1/missions/:id/events', (req, res) => {
  res.status(201).json({ mission_id: req.params.id, revision: 1, position: 1, duplicate: false });
});
const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${typeof address === 'object' && address !== null ? address.port : ''}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
