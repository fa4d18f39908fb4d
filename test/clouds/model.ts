/** What the runner records and the tests read. */
export interface Scenario {
  readonly stack: "aws" | "openstack" | "probe";
  /** Full keys (`crm:servers`) to string values, as in a stack file. */
  readonly config: Readonly<Record<string, string>>;
  readonly secretKeys?: readonly string[];
}

export interface Recorded {
  readonly type: string;
  readonly name: string;
  readonly custom: boolean;
  readonly inputs: Record<string, unknown>;
  /** Dotted paths of the inputs that arrived as secrets ("" = the whole object). */
  readonly secrets: string[];
  readonly state: Record<string, unknown>;
}

export interface RunResult {
  readonly resources: Recorded[];
  /** Provider function calls (data sources such as the AMI lookup). */
  readonly calls: { token: string; inputs: Record<string, unknown> }[];
  readonly outputs: Record<string, unknown>;
  readonly errors: string[];
}
