import type { EventEmitter } from 'node:events';
import type Redis from 'ioredis';

/** Carries cache invalidations between processes (Redis pub/sub) or within one (EventEmitter). */
export interface InvalidationBus {
  publish(channel: string, message: string): Promise<void>;
  /** Resolves once the subscription is live; the returned function ends it. */
  subscribe(channel: string, listener: (message: string) => void): Promise<() => Promise<void>>;
  /** Called after a gap in which messages may have been lost (a reconnect); returns an unsubscribe. */
  onGap(listener: () => void): () => void;
}

export function memoryInvalidationBus(emitter: EventEmitter): InvalidationBus {
  return {
    async publish(channel, message) {
      emitter.emit(channel, message);
    },
    async subscribe(channel, listener) {
      emitter.on(channel, listener);
      return async () => {
        emitter.off(channel, listener);
      };
    },
    onGap: () => () => undefined, // nothing to lose in-process
  };
}

/**
 * Pub/sub over a dedicated subscriber connection (a subscribed ioredis connection can run nothing
 * else). ioredis resubscribes after a reconnect; what was published in between is gone, so
 * listeners of onGap hear about it.
 */
export function redisInvalidationBus(publisher: Redis, subscriber: Redis): InvalidationBus {
  const listeners = new Map<string, Set<(message: string) => void>>();
  const gapListeners = new Set<() => void>();
  let disconnected = false;

  subscriber.on('message', (channel: string, message: string) => {
    for (const listener of listeners.get(channel) ?? []) listener(message);
  });
  subscriber.on('close', () => (disconnected = true));
  subscriber.on('ready', () => {
    if (!disconnected) return;
    disconnected = false;
    for (const listener of gapListeners) listener();
  });

  return {
    async publish(channel, message) {
      await publisher.publish(channel, message);
    },
    async subscribe(channel, listener) {
      let channelListeners = listeners.get(channel);
      if (!channelListeners) {
        channelListeners = new Set();
        listeners.set(channel, channelListeners);
      }
      channelListeners.add(listener);
      // SUBSCRIBE again on a channel already subscribed is harmless and confirms it is live.
      await subscriber.subscribe(channel);
      return async () => {
        channelListeners.delete(listener);
        if (channelListeners.size === 0 && listeners.get(channel) === channelListeners) {
          listeners.delete(channel);
          if (subscriber.status === 'ready') await subscriber.unsubscribe(channel);
        }
      };
    },
    onGap(listener) {
      gapListeners.add(listener);
      return () => gapListeners.delete(listener);
    },
  };
}
