import { CRM_SIGNATURE_HEADER, CRM_SIGNATURE_TOLERANCE_SECONDS, requestHeader, verifyCrmSignature } from "../../src/plugins";

/**
 * POS producers sign requests with the CRM request signature, as for the `http-json` channel:
 * `X-CRM-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>` (src/plugins/signing.ts).
 */
export const SIGNATURE_HEADER = CRM_SIGNATURE_HEADER;
export const TOLERANCE_SECONDS = CRM_SIGNATURE_TOLERANCE_SECONDS;
export const verifySignature = verifyCrmSignature;
export const header = requestHeader;
