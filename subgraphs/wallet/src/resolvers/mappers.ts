/** A User as the wallet subgraph knows it: only its key. */
export interface UserReference {
  id: string;
}
