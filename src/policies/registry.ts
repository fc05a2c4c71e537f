// Loads the reminder policies (policies/*.json) once at start-up; a bad file stops the process
// with a message naming the file and field.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ZodError } from 'zod';
import { parsePolicy, type Policy } from '../domain/policy-schema';

export const DEFAULT_POLICY_ID = 'default';

export class PolicyRegistry {
  private constructor(private readonly policies: ReadonlyMap<string, Policy>) {}

  static load(dir: string): PolicyRegistry {
    const policies = new Map<string, Policy>();
    for (const file of readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort()) {
      const path = join(dir, file);
      let policy: Policy;
      try {
        policy = parsePolicy(JSON.parse(readFileSync(path, 'utf8')));
      } catch (err) {
        const detail =
          err instanceof ZodError
            ? err.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')
            : String(err);
        throw new Error(`invalid policy ${path}: ${detail}`);
      }
      if (`${policy.id}.json` !== file)
        throw new Error(`invalid policy ${path}: id "${policy.id}" must match the file name`);
      policies.set(policy.id, policy);
    }
    if (!policies.has(DEFAULT_POLICY_ID)) throw new Error(`no ${DEFAULT_POLICY_ID}.json policy in ${dir}`);
    return new PolicyRegistry(policies);
  }

  get(id: string): Policy | undefined {
    return this.policies.get(id);
  }

  ids(): string[] {
    return [...this.policies.keys()];
  }
}
