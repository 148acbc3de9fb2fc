import { DeciderSpecification } from '@cmis/platform';
import type { TemplateContent } from './compile';
import {
  templateDecider,
  TemplateNotFound,
  TemplateVersionConflict,
  type SaveTemplate,
  type TemplateEvent,
} from './template';

const spec = DeciderSpecification.for(templateDecider);
const t0 = '2025-06-01T12:00:00.000Z';
const t1 = '2025-06-01T13:00:00.000Z';
const byAnn = { by: 'key:ann', at: t0 };
const byBo = { by: 'key:bo', at: t1 };
const welcome: TemplateContent = { subject: 'Hi {{ contact.name }}', html: '<p>Welcome</p>' };
const welcomeBack: TemplateContent = { subject: 'Hi again', html: '<p>Welcome back</p>' };

const save = (content = welcome, metadata = byAnn, expectedVersion?: number): SaveTemplate => ({
  type: 'SaveTemplate',
  data: { templateId: 'welcome', name: 'Welcome', kind: 'template', content, expectedVersion },
  metadata,
});
const saved = (
  version: number,
  fromVersion: number | null,
  content = welcome,
  { by, at } = byAnn,
): TemplateEvent => ({
  type: 'cmis.email.template-saved',
  data: { templateId: 'welcome', name: 'Welcome', kind: 'template', content, version, fromVersion, by, at },
  metadata: { actor: by },
});
const deleted = (version: number, { by, at } = byBo): TemplateEvent => ({
  type: 'cmis.email.template-deleted',
  data: { templateId: 'welcome', version, by, at },
  metadata: { actor: by },
});
const remove = (expectedVersion?: number) => ({
  type: 'DeleteTemplate' as const,
  data: { templateId: 'welcome', expectedVersion },
  metadata: byBo,
});

describe('template decider', () => {
  it('saves the first version from none', () => {
    spec
      .given([])
      .when(save())
      .then([saved(1, null)]);
  });

  it('saves a change as the next version, from the one before, by whoever made it', () => {
    spec
      .given([saved(1, null)])
      .when(save(welcomeBack, byBo, 1))
      .then([saved(2, 1, welcomeBack, byBo)]);
  });

  it('saving the same content again changes nothing', () => {
    spec
      .given([saved(1, null)])
      .when(save())
      .then([]);
    spec
      .given([saved(1, null)])
      .when(save({ ...welcome, mjml: false }, byBo, 0))
      .then([]);
  });

  it('a change of name, kind or MJML flag is a change', () => {
    spec
      .given([saved(1, null)])
      .when(save({ ...welcome, mjml: true }, byBo))
      .then([saved(2, 1, { ...welcome, mjml: true }, byBo)]);
  });

  it('refuses a save over a version the editor did not start from', () => {
    spec
      .given([saved(1, null), saved(2, 1, welcomeBack)])
      .when(save(welcome, byBo, 1))
      .thenThrows(TemplateVersionConflict, (e) => e.extensions.currentVersion === 2);
    spec
      .given([])
      .when(save(welcome, byAnn, 3))
      .thenThrows(TemplateNotFound);
  });

  it('deletes a template as a version of its own', () => {
    spec
      .given([saved(1, null)])
      .when(remove())
      .then([deleted(2)]);
    spec
      .given([saved(1, null)])
      .when(remove(1))
      .then([deleted(2)]);
    spec
      .given([saved(1, null), saved(2, 1, welcomeBack)])
      .when(remove(1))
      .thenThrows(TemplateVersionConflict);
  });

  it('refuses to delete a missing or deleted template', () => {
    spec.given([]).when(remove()).thenThrows(TemplateNotFound);
    spec
      .given([saved(1, null), deleted(2)])
      .when(remove())
      .thenThrows(TemplateNotFound);
  });

  it('saves a deleted template again, even with the content it had', () => {
    spec
      .given([saved(1, null), deleted(2)])
      .when(save(welcome, byAnn, 2))
      .then([saved(3, 2)]);
  });
});
