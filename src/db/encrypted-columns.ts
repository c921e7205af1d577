import type { ValueTransformer } from "typeorm";
import type { DataKeyring } from "../core/data-keys";

/**
 * Column transformers that keep a column's content encrypted at rest (CRM_DATA_KEY), for the copies of personal
 * data that are read whole and never searched: merge records' changes and snapshots, identity conflicts'
 * identities. TypeORM applies transformers outside any request, so the keyring is the process's: `createApp`
 * installs it (every app of a process is given the same keys). Never put one on a column a query filters by —
 * a WHERE value would be encrypted afresh and match nothing; searchable values use blind indexes instead.
 */
let keyring: DataKeyring | null = null;

export function installDataKeyring(ring: DataKeyring): void {
  keyring = ring;
}

function ring(): DataKeyring {
  if (!keyring) throw new Error("No data keyring is installed (createApp installs CRM_DATA_KEY's)");
  return keyring;
}

/** Any JSON value ↔ one encrypted JSON string (values stored before encryption are read as they are). */
export const encryptedJson: ValueTransformer = {
  to: (v: unknown) => (v === undefined || v === null ? v : ring().encryptJson(v)),
  from: (v: unknown) => (v === undefined || v === null ? v : ring().decryptJson(v)),
};

/** A text value ↔ its ciphertext. Only for columns no query filters or sorts by (see above). */
export const encryptedText: ValueTransformer = {
  to: (v: unknown) => (v === undefined || v === null ? v : ring().encrypt(v as string)),
  from: (v: unknown) => (v === undefined || v === null ? v : ring().decrypt(v as string)),
};
