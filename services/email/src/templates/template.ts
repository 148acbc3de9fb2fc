// Pure: a template's stream, one per org and template id. Every change is an event naming who
// made it, when, and the version it was made from; a message records the version it rendered.
// Partials live in the same kind of stream, so their history reads the same way.
import { ConflictError, NotFoundError, type Decider } from '@cmis/platform';
import type { TemplateContent } from './compile';

export type TemplateKind = 'template' | 'partial';

/** Who changes a template (an API key id) and when; both come in with the command. */
export type ChangeMetadata = { by: string; at: string };

export type SaveTemplate = {
  type: 'SaveTemplate';
  data: {
    templateId: string;
    name: string;
    kind: TemplateKind;
    content: TemplateContent;
    /** The version the editor started from: a save over another one's change is refused. */
    expectedVersion?: number;
  };
  metadata: ChangeMetadata;
};

export type DeleteTemplate = {
  type: 'DeleteTemplate';
  data: { templateId: string; expectedVersion?: number };
  metadata: ChangeMetadata;
};

export type TemplateCommand = SaveTemplate | DeleteTemplate;

export type TemplateSaved = {
  templateId: string;
  name: string;
  kind: TemplateKind;
  content: TemplateContent;
  version: number;
  fromVersion: number | null;
  by: string;
  at: string;
};

export type TemplateDeleted = { templateId: string; version: number; by: string; at: string };

export type TemplateEvent =
  | { type: 'cmis.email.template-saved'; data: TemplateSaved; metadata: { actor: string } }
  | { type: 'cmis.email.template-deleted'; data: TemplateDeleted; metadata: { actor: string } };

/** `version` counts the stream's events, so it is also the event store's expected version. */
export type TemplateState = { version: number; deleted: boolean; current?: TemplateSaved };

export class TemplateVersionConflict extends ConflictError {}
export class TemplateNotFound extends NotFoundError {}

function decide(command: TemplateCommand, state: TemplateState): TemplateEvent[] {
  const { by, at } = command.metadata;
  const metadata = { actor: by };
  const { templateId, expectedVersion } = command.data;
  const version = state.version + 1;
  const fromVersion = state.version === 0 ? null : state.version;
  switch (command.type) {
    case 'SaveTemplate': {
      const { name, kind, content } = command.data;
      // The same content again (a retried request) changes nothing, whatever version it expected.
      if (state.current && sameTemplate(state.current, command.data)) return [];
      if (expectedVersion !== undefined && expectedVersion > 0 && state.version === 0)
        throw new TemplateNotFound(`No template ${templateId}`);
      checkVersion(templateId, expectedVersion, state);
      return [
        {
          type: 'cmis.email.template-saved',
          data: { templateId, name, kind, content, version, fromVersion, by, at },
          metadata,
        },
      ];
    }
    case 'DeleteTemplate':
      if (state.version === 0 || state.deleted) throw new TemplateNotFound(`No template ${templateId}`);
      checkVersion(templateId, expectedVersion, state);
      return [{ type: 'cmis.email.template-deleted', data: { templateId, version, by, at }, metadata }];
    default: {
      const unhandled: never = command;
      throw new Error(`unhandled command ${(unhandled as TemplateCommand).type}`);
    }
  }
}

function checkVersion(templateId: string, expectedVersion: number | undefined, state: TemplateState): void {
  if (expectedVersion !== undefined && expectedVersion !== state.version)
    throw new TemplateVersionConflict(
      `Template ${templateId} is at version ${state.version}, not ${expectedVersion}`,
      { currentVersion: state.version },
    );
}

function sameTemplate(current: TemplateSaved, next: SaveTemplate['data']): boolean {
  const a = current.content;
  const b = next.content;
  return (
    current.name === next.name &&
    current.kind === next.kind &&
    a.subject === b.subject &&
    a.html === b.html &&
    a.text === b.text &&
    !!a.mjml === !!b.mjml
  );
}

function evolve(state: TemplateState, event: TemplateEvent): TemplateState {
  switch (event.type) {
    case 'cmis.email.template-saved':
      return { version: event.data.version, deleted: false, current: event.data };
    case 'cmis.email.template-deleted':
      return { version: event.data.version, deleted: true };
    default: {
      const unhandled: never = event;
      throw new Error(`unhandled event ${(unhandled as TemplateEvent).type}`);
    }
  }
}

const initialState = (): TemplateState => ({ version: 0, deleted: false });

export const templateDecider: Decider<TemplateState, TemplateCommand, TemplateEvent> = {
  decide,
  evolve,
  initialState,
};
