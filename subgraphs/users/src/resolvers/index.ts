import { scalarResolvers } from '@paygraph/scalars';
import type { Resolvers } from '../generated/resolvers-types';
import { Mutation } from './Mutation';
import { Query } from './Query';
import { User } from './User';

export const resolvers: Resolvers = {
  DateTime: scalarResolvers.DateTime,
  Query,
  Mutation,
  User,
};
