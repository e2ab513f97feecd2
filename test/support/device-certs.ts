import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A client certificate whose common name is `cn` (a device id), signed by the CA `ca` of a
 * `makeTestPki` folder (`ca` or `other-ca`). Returns the certificate and key files.
 */
export function issueClientCertificate(pkiDir: string, cn: string, ca: 'ca' | 'other-ca' = 'ca'): { certFile: string; keyFile: string } {
  const name = `device-${cn}-${ca}`;
  const run = (args: string[]) => {
    const result = spawnSync('openssl', args, { cwd: pkiDir, encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`openssl ${args[0]} failed: ${result.stderr || result.error?.message}`);
  };
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
  writeFileSync(join(pkiDir, `${name}.ext`), 'extendedKeyUsage=clientAuth\n');
  run(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`]);
  return { certFile: join(pkiDir, `${name}.pem`), keyFile: join(pkiDir, `${name}.key`) };
}
