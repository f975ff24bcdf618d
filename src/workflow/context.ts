import { contextSlot } from '../protocol/context-slots.js';
import type { WorkflowInstance } from './instance.js';

/**
 * The workflow a piece of code belongs to, tracked through async calls. Every
 * workflow API and every determinism override reads it: inside a workflow it
 * is set; anywhere else it is undefined and globals behave normally.
 */
export const workflowStorage = contextSlot<WorkflowInstance>('workflow');

export function currentWorkflow(what: string): WorkflowInstance {
  const instance = workflowStorage.getStore();
  if (!instance) {
    throw new Error(`${what} can only be called from workflow code (a function run by a Tideway worker)`);
  }
  return instance;
}
