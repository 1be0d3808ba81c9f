// Messages between the page (index.ts) and the worker (worker.ts). Every request carries an id;
// every reply names the id it answers. Only plain, structured-cloneable data crosses.
import type {
  BackendChoice, ChatMessage, GenerateOptions, GenerationResult, KiteErrorCode, LoadProgress, ModelInfo, ToolCall,
} from './types.js';

export type WireSource =
  | { kind: 'url'; url: string; cache: boolean }
  | { kind: 'file'; file: Blob; name: string }
  | { kind: 'buffer'; buffer: ArrayBuffer };

export interface LoadRequest {
  type: 'load';
  id: number;
  source: WireSource;
  backend: BackendChoice;
  threads: number;
  verifyChecksums: boolean;
  context: number;
  kvFormat: 'f16' | 'f32' | 'q8';
  runtimeUrl: string;
  threadsRuntimeUrl: string;
  webgpuUrl: string;
}

export interface GenerateRequest {
  type: 'generate';
  id: number;
  /** Exactly one of messages (chat template applied) or prompt (raw text) or promptIds. */
  messages?: ChatMessage[];
  prompt?: string;
  promptIds?: number[];
  options: GenerateOptions;
}

export interface AbortRequest { type: 'abort' }
export interface TokenizeRequest { type: 'tokenize'; id: number; text: string; parseSpecial: boolean }
export interface DetokenizeRequest { type: 'detokenize'; id: number; ids: number[] }
export interface TemplateRequest { type: 'template'; id: number; messages: ChatMessage[]; addGenerationPrompt: boolean }
/** Logits of the last id after evaluating `ids` from position 0 in a fresh context. */
export interface EvaluateRequest { type: 'evaluate'; id: number; ids: number[] }
export interface UnloadRequest { type: 'unload'; id: number }

export type Request =
  | LoadRequest | GenerateRequest | AbortRequest | TokenizeRequest | DetokenizeRequest | TemplateRequest
  | EvaluateRequest | UnloadRequest;

export type Reply =
  | { type: 'progress'; id: number; progress: LoadProgress }
  | { type: 'loaded'; id: number; info: ModelInfo }
  | { type: 'token'; id: number; text: string; tokenId: number }
  | { type: 'tool_call'; id: number; call: ToolCall }
  | { type: 'done'; id: number; result: GenerationResult }
  | { type: 'value'; id: number; value: unknown }
  | { type: 'error'; id: number; code: KiteErrorCode; message: string }
  | { type: 'log'; level: 'info' | 'warn'; message: string }
  /** The model moved to another backend (its WebGPU device was lost): the new info. */
  | { type: 'backend'; info: ModelInfo };
