// A template's stream: every save is a version (who saved it, when, from which version); saving
// the same content again changes nothing; a delete ends it until the next save.
import type { Decider } from '@cmis/platform';
import type { TemplateContent } from './compile';

export type TemplateKind = 'template' | 'partial';

interface Meta {
  by: string;
  at: string;
}

export interface TemplateSaved {
  templateId: string;
  name: string;
  kind: TemplateKind;
  content: TemplateContent;
  version: number;
  fromVersion: number | null;
  by: string;
  at: string;
}

export interface TemplateDeleted {
  templateId: string;
  version: number;
  by: string;
  at: string;
}

export type TemplateEvent =
  | { type: 'cmis.email.template-saved'; data: TemplateSaved; metadata: Record<string, string> }
  | { type: 'cmis.email.template-deleted'; data: TemplateDeleted; metadata: Record<string, string> };

export type TemplateCommand =
  | {
      type: 'SaveTemplate';
      data: {
        templateId: string;
        name: string;
        kind: TemplateKind;
        content: TemplateContent;
        expectedVersion?: number;
      };
      metadata: Meta;
    }
  | { type: 'DeleteTemplate'; data: { templateId: string; expectedVersion?: number }; metadata: Meta };

export interface TemplateState {
  version: number;
  deleted: boolean;
  current?: TemplateSaved;
}

export class TemplateVersionConflict extends Error {
  override name = 'TemplateVersionConflict';
}
export class TemplateNotFound extends Error {
  override name = 'TemplateNotFound';
}

const sameContent = (a: TemplateContent, b: TemplateContent) =>
  a.subject === b.subject && a.html === b.html && a.text === b.text && Boolean(a.mjml) === Boolean(b.mjml);

function checkVersion(expected: number | undefined, state: TemplateState, templateId: string) {
  if (expected !== undefined && expected !== state.version)
    throw new TemplateVersionConflict(
      `template ${templateId} is at version ${state.version}, not ${expected}`,
    );
}

function decide(command: TemplateCommand, state: TemplateState): TemplateEvent[] {
  const { by, at } = command.metadata;
  const metadata = { actor: by };
  switch (command.type) {
    case 'SaveTemplate': {
      const d = command.data;
      checkVersion(d.expectedVersion, state, d.templateId);
      const current = state.current;
      if (
        current &&
        !state.deleted &&
        current.name === d.name &&
        current.kind === d.kind &&
        sameContent(current.content, d.content)
      )
        return [];
      return [
        {
          type: 'cmis.email.template-saved',
          data: {
            templateId: d.templateId,
            name: d.name,
            kind: d.kind,
            content: d.content,
            version: state.version + 1,
            fromVersion: state.version === 0 ? null : state.version,
            by,
            at,
          },
          metadata,
        },
      ];
    }
    case 'DeleteTemplate': {
      if (state.version === 0 || state.deleted)
        throw new TemplateNotFound(`no template ${command.data.templateId}`);
      checkVersion(command.data.expectedVersion, state, command.data.templateId);
      return [
        {
          type: 'cmis.email.template-deleted',
          data: { templateId: command.data.templateId, version: state.version + 1, by, at },
          metadata,
        },
      ];
    }
    default: {
      const never: never = command;
      throw new Error(`unknown command ${JSON.stringify(never)}`);
    }
  }
}

function evolve(state: TemplateState, event: TemplateEvent): TemplateState {
  switch (event.type) {
    case 'cmis.email.template-saved':
      return { version: event.data.version, deleted: false, current: event.data };
    case 'cmis.email.template-deleted':
      return { ...state, version: event.data.version, deleted: true };
    default: {
      const never: never = event;
      throw new Error(`unknown event ${JSON.stringify(never)}`);
    }
  }
}

export const templateDecider: Decider<TemplateState, TemplateCommand, TemplateEvent> = {
  decide,
  evolve,
  initialState: () => ({ version: 0, deleted: false }),
};
