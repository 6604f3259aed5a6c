// The npm client fhir-kit-client, as an independent judge of Carnet's FHIR API: discovers
// the SMART endpoints, reads a patient, searches its appointments one per page and follows
// the Bundle's next links, and reads a patient that does not exist. Prints every answer it
// got, as JSON, for the test to check.
//   node read_and_page.mjs BASE_URL TOKEN PATIENT_ID
import { Client } from 'fhir-kit-client';

const [baseUrl, bearerToken, patient] = process.argv.slice(2);
const client = new Client({ baseUrl, bearerToken });
const out = { responses: [] };

out.auth = await client.smartAuthMetadata();
out.patient = await client.read({ resourceType: 'Patient', id: patient });
out.responses.push(out.patient);

out.appointments = [];
out.pages = 0;
let bundle = await client.search({
  resourceType: 'Appointment',
  searchParams: { patient: `Patient/${patient}`, _count: 1 },
});
while (bundle && out.pages < 20) {
  out.pages += 1;
  out.responses.push(bundle);
  for (const entry of bundle.entry || []) out.appointments.push(entry.resource.id);
  bundle = await client.nextPage({ bundle });
}

try {
  await client.read({ resourceType: 'Patient', id: '00000000-0000-4000-8000-000000000000' });
  out.notFound = { status: 200 };
} catch (error) {
  out.notFound = { status: error.response?.status, data: error.response?.data };
  out.responses.push(error.response?.data);
}
console.log(JSON.stringify(out));
