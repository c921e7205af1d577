import pg from "pg";

/** The server benches run on unless DATABASE_URL names another. */
export const DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432";

/**
 * A fresh database on the PostgreSQL server that `serverUrl` points at (any database on it will do
 * for the connection), named `<prefix>_<timestamp>`; `drop()` removes it, closing whatever is still connected.
 */
export async function freshDatabase(serverUrl: string, prefix: string): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${Date.now()}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** A URL without its password, for printing. */
export function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = "***";
  return u.toString();
}
