// The benchmark's data: 100,000 customers of 1,000 companies, 200,000 visits by 20
// salespeople, with names and notes drawn from small word lists so that searches match
// realistic shares of the rows (a last name ~5%, a note word ~16%).
import { queryOnce } from '../test/support/db.js';

export const CUSTOMERS = 100_000;
export const VISITS = 200_000;
const COMPANIES = 1_000;
const SALESPEOPLE = 20;

const FIRST = ['Ana', 'Ben', 'Carla', 'David', 'Elena', 'Felix', 'Grace', 'Hugo', 'Irene', 'Jorge', 'Karin', 'Luis', 'Marta', 'Nico', 'Olga', 'Pablo', 'Rosa', 'Sven', 'Tina', 'Victor'];
const LAST = ['Garcia', 'Smith', 'Müller', 'Rossi', 'Dubois', 'Novak', 'Silva', 'Jensen', 'Kowalski', 'Ivanova', 'Santos', 'Weber', 'Moreau', 'Bianchi', 'Fischer', 'Lopez', 'Nilsen', 'Horvat', 'Costa', 'Meyer'];
const WORDS = ['renewal', 'pricing', 'demo', 'support', 'contract', 'training', 'upgrade', 'feedback', 'invoice', 'meeting', 'proposal', 'delivery'];

const sqlArray = (xs: string[]) => `ARRAY[${xs.map((x) => `'${x}'`).join(',')}]`;

export async function seed(databaseUrl: string): Promise<void> {
  const q = (sql: string) => queryOnce(databaseUrl, sql);
  // Salespeople share one password hash (the admin's): seeding must not run 20 scrypts.
  await q(`INSERT INTO users (username, display_name, password_hash, role)
           SELECT 'sales' || g, (${sqlArray(FIRST)})[g] || ' Seller', (SELECT password_hash FROM users WHERE username = 'admin'), 'salesperson'
           FROM generate_series(1, ${SALESPEOPLE}) g`);
  await q(`INSERT INTO companies (name, website) SELECT 'Company ' || lpad(g::text, 4, '0'), 'https://company' || g || '.example' FROM generate_series(1, ${COMPANIES}) g`);
  await q(`INSERT INTO customers (company_id, name, email, phone)
           SELECT (g % ${COMPANIES}) + 1,
                  (${sqlArray(FIRST)})[g % 20 + 1] || ' ' || (${sqlArray(LAST)})[(g / 20) % 20 + 1] || ' ' || g,
                  'c' || g || '@example.test', '+34 600 ' || g
           FROM generate_series(1, ${CUSTOMERS}) g`);
  await q(`INSERT INTO visits (customer_id, salesperson_id, visit_date, notes, done)
           SELECT (g * 7919) % ${CUSTOMERS} + 1,
                  (SELECT min(id) FROM users WHERE role = 'salesperson') + g % ${SALESPEOPLE},
                  date '2024-01-01' + (g % 900),
                  'Talked about ' || (${sqlArray(WORDS)})[g % 12 + 1] || ' and ' || (${sqlArray(WORDS)})[(g / 12) % 12 + 1] || ', call #' || g,
                  g % 3 = 0
           FROM generate_series(1, ${VISITS}) g`);
  await q('VACUUM ANALYZE');
}

