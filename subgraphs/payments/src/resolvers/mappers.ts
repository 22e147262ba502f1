/** A User as payments knows it: only its key. */
export interface UserReference {
  id: string;
}
