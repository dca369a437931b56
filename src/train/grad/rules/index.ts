/** The built-in gradient rules, registered explicitly. */
import { GradRuleSet } from '../registry.js';
import { registerElementwise } from './elementwise.js';
import { registerConv } from './conv.js';
import { registerMatMul } from './matmul.js';
import { registerPool } from './pool.js';
import { registerShapeOps } from './shape.js';
import { registerSoftmax } from './softmax.js';
import { registerBatchNorm } from './batchnorm.js';
import { registerHbnn } from './hbnn.js';
import { registerReduce } from './reduce.js';

export function builtinGradRules(): GradRuleSet {
  const r = new GradRuleSet();
  registerElementwise(r);
  registerConv(r);
  registerMatMul(r);
  registerPool(r);
  registerShapeOps(r);
  registerSoftmax(r);
  registerBatchNorm(r);
  registerReduce(r);
  registerHbnn(r);
  return r;
}
