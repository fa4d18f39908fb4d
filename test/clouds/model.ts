/** What the runner records and the tests read. */
export interface Scenario {
  readonly stack: "aws" | "openstack" | "probe";
  /** Full keys (`crm:servers`) to string values, as in a stack file. */
  readonly config: Readonly<Record<string, string>>;
  readonly secretKeys?: readonly string[];
  /** The digest the mocked bundle build reports: another value stands for changed app sources. */
  readonly bundleDigest?: string;
  /** How many availability zones the mocked region has (default 3). */
  readonly zones?: number;
}

/** The resource options the engine would use to decide how a resource is replaced. */
export interface RecordedOptions {
  readonly deleteBeforeReplace: boolean;
  readonly ignoreChanges: string[];
  /** URNs of the resources this one waits for (dependsOn and input dependencies). */
  readonly dependencies: string[];
}

export interface Recorded {
  readonly type: string;
  readonly name: string;
  readonly urn: string;
  /** The parent's URN, "" for none. */
  readonly parent: string;
  readonly custom: boolean;
  readonly inputs: Record<string, unknown>;
  /** Dotted paths of the inputs that arrived as secrets ("" = the whole object). */
  readonly secrets: string[];
  readonly state: Record<string, unknown>;
  readonly options: RecordedOptions;
}

export interface RunResult {
  readonly resources: Recorded[];
  /** Provider function calls (data sources such as the zone lookup). */
  readonly calls: { token: string; inputs: Record<string, unknown> }[];
  readonly outputs: Record<string, unknown>;
  readonly errors: string[];
  /** What the program warned the user of (pulumi.log.warn, which prints with no engine). */
  readonly warnings: string[];
}
